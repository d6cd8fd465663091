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

// killScript stops the processes below the shell (the running command and
// what it started), parents first so none starts another meanwhile, then
// sends them SIGTERM. It runs in a session of its own: sshd refuses to
// pass on signals for root logins.
const killScript = `kids() {
  for f in /proc/[0-9]*/stat; do
    IFS= read -r s <"$f" 2>/dev/null || continue
    r=${s##*) }; r=${r#* }
    [ "${r%% *}" = "$1" ] || continue
    f=${f#/proc/}; echo "${f%/stat}"
  done
}
all=; todo=$(kids "$1")
while [ -n "$todo" ]; do
  next=
  for p in $todo; do kill -STOP "$p" 2>/dev/null; all="$all $p"; next="$next $(kids "$p")"; done
  todo=$next
done
[ -z "$all" ] || { kill -TERM $all; kill -CONT $all; } 2>/dev/null
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

// kill stops the running command and ends the shell. It waits for the
// host at most a few seconds: the run is being cancelled.
func (sh *shell) kill() {
	defer sh.close()
	if sh.pid <= 1 {
		return
	}
	sess, err := sh.client.NewSession()
	if err != nil {
		return
	}
	defer sess.Close()
	done := make(chan error, 1)
	go func() { done <- sess.Run("sh -c " + quote(killScript) + " sh " + strconv.Itoa(sh.pid)) }()
	select {
	case <-done:
	case <-time.After(killWait):
	}
}

const killWait = 5 * time.Second

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
	return Result{Stdout: out.bytes(), Stderr: errOut.bytes(), Code: code}, err
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
