package transport

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

// A shell is one long-lived shell on the host, started in an SSH session of
// its own, that runs the commands of a run one after another. A command
// then costs the host a fork of that shell instead of a new SSH session
// (sshd's fork, a login shell's exec): on a fleet it is most of the cost of
// a step that finds nothing to change.
//
// The shell reads its input as any script, in blocks (a shell's read
// builtin would take a system call per byte), and each command arrives as
// one call of a function defined first, with the command single-quoted.
// Each runs in a subshell with stdin from /dev/null and no positional
// parameters, so it cannot change the shell's directory, variables or
// options, nor end it with exit, nor read the shell's input. Output is
// framed by a random nonce that is fresh for every command:
//
//	controller -> shell:  rb <nonce> '<command>'\n
//	shell -> stderr:      <stderr>\n<nonce>\n
//	shell -> stdout:      <stdout>\n<nonce> <exit status>\n
//
// A command that must read stdin runs in a session of its own, as before.
type shell struct {
	client *ssh.Client
	pid    int // on the host
	sess   *ssh.Session
	stdin  io.WriteCloser
	stdout *framed
	stderr *framed
}

// shellPrelude is the first input of the shell, /bin/sh reading its
// script from stdin (started by the login shell, as any session command
// is). It says it is ready with its pid, which a cancellation needs (see
// kill).
const shellPrelude = `set --
rb() {
  (rb_c=$2; shift 2; eval "$rb_c") </dev/null
  rb_s=$?
  printf '\n%s\n' "$1" >&2
  printf '\n%s %d\n' "$1" "$rb_s"
}
printf '%s %s\n' READY "$$"
`

// killScript ends process $1 and everything below it. It stops them
// first, parents before children so that none starts another meanwhile,
// then sends SIGTERM. Whatever still lives after $2 tenths of a second
// (it ignores SIGTERM, or is slow to end) is stopped again with what it
// has started since, and sent SIGKILL. A process is known by its pid and
// its start time (field 22 of /proc/PID/stat), so a pid reused meanwhile
// is never signalled. It runs in a session of its own: sshd refuses to
// pass on signals for root logins.
const killScript = `kids() {
  for f in /proc/[0-9]*/stat; do
    IFS= read -r s <"$f" 2>/dev/null || continue
    r=${s##*) }; r=${r#* }; r=" ${r%% *} "
    case " $* " in *"$r"*) f=${f#/proc/}; echo "${f%/stat}";; esac
  done
}
since() {
  IFS= read -r s <"/proc/$1/stat" 2>/dev/null || return 1
  set -- ${s##*) }
  state=$1 start=${20}
}
stop() {
  all= todo=$*
  while [ -n "$todo" ]; do
    next=
    for p in $todo; do
      case "$all " in *" $p:"*) continue;; esac
      kill -STOP "$p" 2>/dev/null && since "$p" || continue
      all="$all $p:$start"; next="$next $p"
    done
    todo=
    [ -z "$next" ] || todo=$(kids $next)
  done
}
alive() {
  for e in $all; do
    since "${e%:*}" && [ "$start" = "${e#*:}" ] && [ "$state" != Z ] && echo "${e%:*}"
  done
}
stop "$1"
pids=$(alive)
[ -n "$pids" ] || exit 0
{ kill -TERM $pids; kill -CONT $pids; } 2>/dev/null
n=0
while pids=$(alive); [ -n "$pids" ]; do
  if [ "$n" -ge "$2" ]; then
    stop $pids
    kill -KILL $(alive) 2>/dev/null
    exit 0
  fi
  sleep 0.1; n=$((n+1))
done
exit 0`

func nonce() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "rb-" + hex.EncodeToString(b[:])
}

// errShellSilent means the host's shell did not say it was ready within
// the connect timeout: a stuck login shell, or an account whose sessions
// run something else.
var errShellSilent = errors.New("the host's shell did not answer")

// startShell opens the session and waits until the shell says it is ready,
// at most timeout.
func startShell(ctx context.Context, client *ssh.Client, timeout time.Duration) (*shell, error) {
	sess, err := client.NewSession()
	if err != nil {
		return nil, err
	}
	sh := &shell{client: client, sess: sess}
	sh.stdin, err = sess.StdinPipe()
	if err == nil {
		var out, errOut io.Reader
		if out, err = sess.StdoutPipe(); err == nil {
			if errOut, err = sess.StderrPipe(); err == nil {
				sh.stdout, sh.stderr = newFramed(out), newFramed(errOut)
			}
		}
	}
	ready := nonce()
	if err == nil {
		err = sess.Start("sh -s")
	}
	if err == nil {
		_, err = io.WriteString(sh.stdin, strings.Replace(shellPrelude, "READY", ready, 1))
	}
	if err == nil {
		readyCtx, cancel := context.WithTimeout(ctx, timeout)
		err = sh.await(readyCtx, func() error {
			err := sh.stdout.until([]byte(ready+" "), io.Discard)
			if err == nil {
				sh.pid, err = sh.stdout.number()
			}
			return err
		})
		cancel()
		if err != nil && readyCtx.Err() != nil && ctx.Err() == nil {
			err = fmt.Errorf("%w within %s", errShellSilent, timeout)
		}
	}
	if err != nil {
		sess.Close()
		return nil, fmt.Errorf("start a shell: %w", err)
	}
	return sh, nil
}

// await runs read, and gives up on the shell when ctx ends first. read is
// then left to end on its own (sshd keeps the streams open while anything
// the command started still holds them), so the caller must not touch what
// it writes to.
func (sh *shell) await(ctx context.Context, read func() error) error {
	err := withCtx(ctx, read)
	if err != nil && ctx.Err() != nil {
		sh.kill()
		return ctx.Err()
	}
	return err
}

// kill stops the running command and ends the shell.
func (sh *shell) kill() {
	defer sh.close()
	killTree(sh.client, sh.pid)
}

// killGrace is how long a process has to end after SIGTERM before it is
// sent SIGKILL.
var killGrace = 3 * time.Second

// killTree ends process pid on the host and what it started (see
// killScript). It waits for the host at most a few seconds past the grace
// period: the run is being cancelled.
func killTree(client *ssh.Client, pid int) {
	if pid <= 1 {
		return
	}
	sess, err := client.NewSession()
	if err != nil {
		return
	}
	defer sess.Close()
	tenths := int(killGrace / (100 * time.Millisecond))
	done := make(chan error, 1)
	go func() {
		done <- sess.Run("sh -c " + quote(killScript) + " sh " + strconv.Itoa(pid) + " " + strconv.Itoa(tenths))
	}()
	select {
	case <-done:
	case <-time.After(killGrace + 5*time.Second):
	}
}

func (sh *shell) close() {
	sh.stdin.Close()
	sh.sess.Close()
}

// errShellEnded means the shell went away in mid-command: the command may
// or may not have run.
var errShellEnded = errors.New("the host's shell ended before the command did")

// run runs one command. Any error but a non-zero exit leaves the shell
// unusable.
func (sh *shell) run(ctx context.Context, cmd string) (Result, error) {
	n := nonce()
	msg := "rb " + n + " " + quote(cmd) + "\n"

	var out, errOut capped
	code := -1
	err := sh.await(ctx, func() error {
		if _, err := io.WriteString(sh.stdin, msg); err != nil {
			return err
		}
		stderrDone := make(chan error, 1)
		go func() { stderrDone <- sh.stderr.until([]byte("\n"+n+"\n"), &errOut) }()
		err := sh.stdout.until([]byte("\n"+n+" "), &out)
		if err == nil {
			code, err = sh.stdout.number()
		}
		return errors.Join(err, <-stderrDone)
	})
	if err != nil && ctx.Err() != nil {
		return Result{}, ctx.Err()
	}
	if errors.Is(err, io.EOF) {
		err = errShellEnded
	}
	return Result{Stdout: out.bytes(), Stderr: errOut.bytes(), Truncated: out.truncated() || errOut.truncated(), Code: code}, err
}

// framed reads one of the shell's output streams up to the markers that
// end each command's part of it.
type framed struct {
	r       io.Reader
	chunk   []byte // read buffer, kept for the run
	pending []byte // read but not yet passed on
}

func newFramed(r io.Reader) *framed { return &framed{r: r, chunk: make([]byte, 32<<10)} }

// until copies the stream to w up to marker, and consumes the marker.
// Output is passed on as it comes, holding back only what could be the
// start of the marker.
func (f *framed) until(marker []byte, w io.Writer) error {
	for {
		if i := bytes.Index(f.pending, marker); i >= 0 {
			_, _ = w.Write(f.pending[:i])
			f.pending = append(f.pending[:0], f.pending[i+len(marker):]...)
			return nil
		}
		if keep := len(marker) - 1; len(f.pending) > keep {
			cut := len(f.pending) - keep
			_, _ = w.Write(f.pending[:cut])
			f.pending = append(f.pending[:0], f.pending[cut:]...)
		}
		n, err := f.r.Read(f.chunk)
		f.pending = append(f.pending, f.chunk[:n]...)
		if err != nil && n == 0 {
			return err
		}
	}
}

// number reads the number that ends a line: the pid after the ready
// marker, the exit status after a command's stdout marker.
func (f *framed) number() (int, error) {
	var line []byte
	if err := f.until([]byte("\n"), writerFunc(func(p []byte) { line = append(line, p...) })); err != nil {
		return 0, err
	}
	code, err := strconv.Atoi(string(line))
	if err != nil {
		return 0, fmt.Errorf("the host's shell sent %q for a number", line)
	}
	return code, nil
}

type writerFunc func([]byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
