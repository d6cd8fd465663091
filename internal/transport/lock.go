package transport

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/runbookdev/runbook/tasks"
)

// ErrNoLock means the connection or the host cannot hold a lock: a host
// without flock(1), a user with neither root nor a home directory.
var ErrNoLock = fmt.Errorf("this host cannot hold runbook's locks: %w", tasks.ErrNotSupported)

// A lockShell is a shell on the host that holds at most one lock at a
// time, on its file descriptor 9, for as long as it lives. Idle ones are
// kept for the next lock, so that a lock costs one round trip and not a
// session of its own (sshd's fork, a login shell's exec).
type lockShell struct {
	stdin  io.WriteCloser
	lines  chan string // its output, closed when it ends
	stderr *syncCapped
	end    func()
}

// syncCapped is capped, written by the session while the lock reads it.
type syncCapped struct {
	mu sync.Mutex
	c  capped
}

func (s *syncCapped) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.Write(p)
}

func (s *syncCapped) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.TrimSpace(string(s.c.bytes()))
}

// lockPrelude defines rbl NONCE HASH, which takes the lock on HASH,
// prints "waiting" every few seconds while another holds it (a write that
// fails once the controller is gone ends the wait, as nothing else would),
// then "NONCE locked", or "NONCE fail CODE WHY". It runs in the shell
// itself, not a subshell, so that descriptor 9 stays open after it.
// BusyBox's flock cannot wait with a timeout; it polls.
const lockPrelude = `rb_u=$(id -u </dev/null)
if [ "$rb_u" = 0 ]; then rb_d=/run/runbook/locks
elif [ -n "${HOME:-}" ] && [ -d "$HOME" ]; then rb_d=$HOME/.cache/runbook/locks
else rb_d=; fi
rbl() {
  exec 9>&-
  if [ -z "$rb_d" ]; then echo "$1 fail 41 not root and no home directory to keep locks in"; return; fi
  if ! command -v flock >/dev/null 2>&1; then echo "$1 fail 41 flock is not installed (util-linux)"; return; fi
  (umask 077; mkdir -p -- "$rb_d") </dev/null 2>/dev/null
  if [ -L "$rb_d" ] || [ "$(LC_ALL=C stat -c '%u %a %F' -- "$rb_d" </dev/null 2>/dev/null)" != "$rb_u 700 directory" ]; then
    echo "$1 fail 1 lock directory $rb_d must be a directory of mode 0700 owned by uid $rb_u: remove it"; return
  fi
  rb_f=$rb_d/$2
  if [ -L "$rb_f" ] || { [ -e "$rb_f" ] && [ ! -f "$rb_f" ]; }; then
    echo "$1 fail 1 lock file $rb_f is not a regular file: remove it"; return
  fi
  if ! (umask 077; : >>"$rb_f") 2>/dev/null; then echo "$1 fail 1 cannot create lock file $rb_f"; return; fi
  command exec 9>>"$rb_f" || { echo "$1 fail 1 cannot open lock file $rb_f"; return; }
  if ! flock -n -x 9 </dev/null; then
    while :; do
      echo waiting || exit 1
      flock -E 75 -x -w 2 9 </dev/null 2>/dev/null
      case $? in 0) break ;; 75) ;; *) sleep 1; flock -n -x 9 </dev/null && break ;; esac
    done
  fi
  echo "$1 locked"
}
echo READY
`

// lockUnsupported is rbl's code for ErrNoLock.
const lockUnsupported = "41"

func lockNonce() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "rbl-" + hex.EncodeToString(b[:])
}

// newLockShell sets up a started shell: stdout becomes lines, and the
// prelude goes in.
func newLockShell(ctx context.Context, stdin io.WriteCloser, stdout io.Reader, stderr *syncCapped, end func()) (*lockShell, error) {
	ls := &lockShell{stdin: stdin, lines: make(chan string, 4), stderr: stderr, end: end}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			ls.lines <- sc.Text()
		}
		close(ls.lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	if _, err := io.WriteString(stdin, lockPrelude); err != nil {
		end()
		return nil, err
	}
	if _, err := ls.await(ctx, func(l string) bool { return l == "READY" }); err != nil {
		end()
		return nil, err
	}
	return ls, nil
}

// await reads lines until one satisfies done, and returns it.
func (ls *lockShell) await(ctx context.Context, done func(string) bool) (string, error) {
	for {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case l, ok := <-ls.lines:
			if !ok {
				return "", fmt.Errorf("the host's lock shell ended: %s", cmp.Or(ls.stderr.String(), "no message"))
			}
			if done(l) {
				return l, nil
			}
		}
	}
}

// idle reports whether the shell is still there and quiet: an idle shell
// says nothing, so any line means it ended or went wrong.
func (ls *lockShell) idle() bool {
	select {
	case <-ls.lines:
		return false
	default:
		return true
	}
}

// lockPool keeps the idle lock shells of one connection, by the user they
// run as (Escalation.key).
type lockPool struct {
	mu   sync.Mutex
	idle map[string][]*lockShell
}

func (p *lockPool) get(who string) *lockShell {
	p.mu.Lock()
	defer p.mu.Unlock()
	for len(p.idle[who]) > 0 {
		n := len(p.idle[who]) - 1
		ls := p.idle[who][n]
		p.idle[who] = p.idle[who][:n]
		if ls.idle() {
			return ls
		}
		ls.end()
	}
	return nil
}

func (p *lockPool) put(who string, ls *lockShell) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idle == nil {
		p.idle = map[string][]*lockShell{}
	}
	p.idle[who] = append(p.idle[who], ls)
}

// lock takes the lock on key in a shell from p, started with start when
// none is idle; where names the host for messages, who the user the shell
// runs as.
func (p *lockPool) lock(ctx context.Context, where, who string, start func(context.Context) (*lockShell, error), key string, waiting func()) (func(), error) {
	ls := p.get(who)
	if ls == nil {
		var err error
		if ls, err = start(ctx); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, err
		}
	}
	sum := sha256.Sum256([]byte(key))
	n := lockNonce()
	if _, err := io.WriteString(ls.stdin, "rbl "+n+" "+hex.EncodeToString(sum[:])+"\n"); err != nil {
		ls.end()
		return nil, fmt.Errorf("lock on %s: %w", where, err)
	}
	said := false
	l, err := ls.await(ctx, func(l string) bool {
		if l == "waiting" && !said && waiting != nil {
			said = true
			waiting()
		}
		return strings.HasPrefix(l, n+" ")
	})
	if err != nil {
		// Cancelled while waiting, or the shell is gone: ending it is
		// the only way to stop its wait.
		ls.end()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("lock on %s: %w", where, err)
	}
	if why, failed := strings.CutPrefix(l, n+" fail "); failed {
		p.put(who, ls)
		code, msg, _ := strings.Cut(why, " ")
		if code == lockUnsupported {
			return nil, fmt.Errorf("lock on %s: %s: %w", where, msg, ErrNoLock)
		}
		return nil, fmt.Errorf("lock on %s: %s", where, msg)
	}
	var once sync.Once
	return func() { once.Do(func() { p.unlock(who, ls) }) }, nil
}

// unlockWait is how long a lock shell has to say it let go.
const unlockWait = 5 * time.Second

// unlock closes the lock's file in ls and waits until the host says so;
// a shell that does not answer in time is ended, which unlocks as well.
func (p *lockPool) unlock(who string, ls *lockShell) {
	n := lockNonce()
	ctx, cancel := context.WithTimeout(context.Background(), unlockWait)
	defer cancel()
	_, err := io.WriteString(ls.stdin, "exec 9>&-; echo "+n+"\n")
	if err == nil {
		_, err = ls.await(ctx, func(l string) bool { return l == n })
	}
	if err != nil {
		ls.end()
		return
	}
	p.put(who, ls)
}

// Lock holds the lock named key on the host, so that a read-modify-write
// of a host's file by one runbook run does not interleave with another
// run's (which would lose one run's edit).
//
// The lock is flock(2) on a file named by a hash of key, in a directory
// only the acting user can write: /run/runbook/locks for root (/run is
// root's alone, so nobody else can plant a symlink or a FIFO there), else
// ~/.cache/runbook/locks. Runs acting as the same user exclude each other;
// runs acting as different users, and programs other than runbook, do not.
//
// The lock belongs to a shell on the host whose input is the connection
// (see lockShell), one of the connection's lock shells: unlocking closes
// the file in it, and the run dying or its connection dropping ends the
// shell, so a lock never outlives its holder by more than the time the
// host takes to notice (for a lost connection, sshd's ClientAlive
// settings). Lock files stay: removing one while another run waits on it
// would let a third take a different lock.
func (s *SSH) Lock(ctx context.Context, key string, waiting func()) (func(), error) {
	return s.lockAs(ctx, key, nil, waiting)
}

// lockAs is Lock as the user as says (nil: the login user), as becoming
// another user does.
func (s *SSH) lockAs(ctx context.Context, key string, as *Escalation, waiting func()) (func(), error) {
	start := func(ctx context.Context) (*lockShell, error) {
		s.commands.Add(1)
		p, err := startAs(ctx, s.pipe, as, "sh -s")
		if err != nil {
			return nil, err
		}
		ls, err := newLockShell(ctx, p.stdin, p.stdout, p.errOut, p.close)
		if err != nil {
			if why := as.explain(p.errOut.String()); why != nil {
				return nil, why
			}
			if ctx.Err() == nil && !s.alive() {
				return nil, &ConnError{Host: s.host, Lost: true, Err: fmt.Errorf("start a lock shell: %w", err)}
			}
			return nil, fmt.Errorf("start a lock shell on %s: %w", s.host, err)
		}
		return ls, nil
	}
	return s.locks.lock(ctx, s.host, as.key(), start, key, waiting)
}

// Lock holds the lock on key as the become user.
func (b becomeConn) Lock(ctx context.Context, key string, waiting func()) (func(), error) {
	l, ok := b.c.(interface {
		lockAs(context.Context, string, *Escalation, func()) (func(), error)
	})
	if !ok {
		return nil, fmt.Errorf("lock as %s: %w", b.as.User, ErrNoLock)
	}
	return l.lockAs(ctx, key, &b.as, waiting)
}

// localLocks are the controller's lock shells, children of runbook that
// end with it.
var localLocks lockPool

// Lock holds the lock on the controller the same way, so that local steps
// and runs reaching this machine over SSH exclude each other.
func (l Local) Lock(ctx context.Context, key string, waiting func()) (func(), error) {
	return l.lockAs(ctx, key, nil, waiting)
}

// lockAs is Lock as another user, for become.
func (Local) lockAs(ctx context.Context, key string, as *Escalation, waiting func()) (func(), error) {
	start := func(ctx context.Context) (*lockShell, error) {
		p, err := startAs(ctx, localPipe, as, "sh -s")
		if err == nil {
			var ls *lockShell
			if ls, err = newLockShell(ctx, p.stdin, p.stdout, p.errOut, p.close); err == nil {
				return ls, nil
			}
			if why := as.explain(p.errOut.String()); why != nil {
				return nil, why
			}
		}
		return nil, fmt.Errorf("start a lock shell on the controller: %w", err)
	}
	return localLocks.lock(ctx, "the controller", as.key(), start, key, waiting)
}
