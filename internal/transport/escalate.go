package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/runbookdev/runbook/tasks"
)

// Become methods: the programs that run commands as another user.
const (
	Sudo = "sudo"
	Su   = "su"
	Doas = "doas"
)

// Methods are the become methods, in the order messages list them.
var Methods = []string{Sudo, Su, Doas}

// Escalation says how a connection acts as another user: Become's view of
// a connection runs its commands, file servers and lock shells through it.
type Escalation struct {
	User   string // the user to act as; "" is root
	Method string // Sudo (""), Su or Doas
	// Password answers the method's prompt: the login user's password for
	// sudo, the target user's for su (doas reads one from a terminal only,
	// and runbook gives it none). It is written to the method's standard
	// input when the method asks, never put in an argument or a file.
	Password string
	Host     string // the host's name, for messages
}

var (
	// ErrIncorrectPassword means the method refused the password given.
	ErrIncorrectPassword = errors.New("incorrect password")
	// ErrNoPassword means the method asked for a password, and none was
	// given.
	ErrNoPassword = errors.New("a password is required: give it with -K (--ask-become-pass) or the become_password variable")
	// errDoasPassword means doas asked for a password, which it reads from
	// a terminal only.
	errDoasPassword = errors.New("doas asks for a password, which it reads from a terminal only, and runbook runs commands without one: allow the login user without a password (a nopass rule in /etc/doas.conf), or use become_method sudo or su")
)

// BecomeError is a failure to act as the user: the command did not run.
type BecomeError struct {
	User, Method, Host string
	Err                error
}

func (e *BecomeError) Error() string {
	on := ""
	if e.Host != "" {
		on = " on " + e.Host
	}
	return fmt.Sprintf("become %s with %s%s: %v", e.User, e.Method, on, e.Err)
}

func (e *BecomeError) Unwrap() error { return e.Err }

// user is the user acted as.
func (e *Escalation) user() string {
	if e.User == "" {
		return "root"
	}
	return e.User
}

func (e *Escalation) method() string {
	if e.Method == "" {
		return Sudo
	}
	return e.Method
}

// prompted reports whether starting a command may take an exchange with
// the method (see exchange): anything but sudo without a password, which
// runs sudo -n.
func (e *Escalation) prompted() bool { return e.method() != Sudo || e.Password != "" }

func (e *Escalation) fail(err error) error {
	return &BecomeError{User: e.user(), Method: e.method(), Host: e.Host, Err: err}
}

// key tells apart what is started for different escalations, to keep one
// file server and idle lock shells per escalation; "" is the login user.
func (e *Escalation) key() string {
	if e == nil {
		return ""
	}
	return e.method() + ":" + e.user()
}

// wrap is cmd run as the user through sudo without a password.
func (e *Escalation) wrap(cmd string) string {
	return "sudo -n -H -u " + quote(e.user()) + " -- " + cmd
}

// sudoNoPassword is all that sudo -n prints when it wants a password.
const sudoNoPassword = "sudo: a password is required"

// explain turns what a command run through wrap printed on stderr into
// the failure to become the user, when that is what it says.
func (e *Escalation) explain(stderr string) error {
	if e != nil && !e.prompted() && strings.TrimSpace(stderr) == sudoNoPassword {
		return e.fail(ErrNoPassword)
	}
	return nil
}

// starter starts a command with streams for its input and output (see
// pipe): a session on the host, or a process on the controller. tap, when
// set, is given the command's stderr first, and passes on what it does not
// keep.
type starter func(cmd string, tap func(io.Writer) io.Writer) (*pipe, error)

// startAs starts cmd through start as the user as says, or as the login
// user when as is nil, and answers the method's password prompt.
func startAs(ctx context.Context, start starter, as *Escalation, cmd string) (*pipe, error) {
	if as == nil {
		return start(cmd, nil)
	}
	if !as.prompted() {
		return start(as.wrap(cmd), nil)
	}
	x := as.exchange()
	p, err := start(x.command(cmd), x.stderr)
	if err != nil {
		return nil, err
	}
	if err := x.answer(ctx, p.stdin, p.ended); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// An exchange starts one command through the method and answers its
// password prompt, reading the method's stderr for it. The command first
// prints a marker on stderr once it runs as the user: what comes before
// it is the method's (its prompt, its complaints), what comes after is
// the command's. Until the marker, nothing but the password is written
// to the command's stdin, so the method never reads the command's input
// as another try at the password; a second prompt means the password was
// refused, and stdin is closed at once, which ends the method.
//
// sudo prints its prompt (-p, a nonce) on stderr and reads the password
// from stdin (-S), one byte at a time: it reads no further than the
// password's line. util-linux su, through PAM, reads stdin when it has no
// terminal, with a prompt that ends in ": ". OpenDoas reads a password
// from a terminal only: it is run with -n, which fails rather than asks.
type exchange struct {
	as     *Escalation
	prompt string // sudo's
	marker string
	out    io.Writer // the command's stderr, from the marker on

	mu      sync.Mutex
	said    []byte // the method's stderr so far, its last maxSaid bytes
	seen    int    // how much of said was searched for prompts
	through bool   // the marker came
	events  chan event
}

type event int

const (
	promptEvent event = iota // the method asks for the password
	markerEvent              // the command runs as the user
)

// maxSaid bounds what is kept of the method's own stderr.
const maxSaid = 16 << 10

// becomeWait bounds how long the method may take to ask for the password
// or run the command: one whose prompt is not recognised (a PAM module's
// own, such as a one-time code's) would otherwise wait on its stdin for
// ever. It is well above a refused password's delay (PAM's, about 2s).
var becomeWait = 30 * time.Second

func (e *Escalation) exchange() *exchange {
	return &exchange{as: e, prompt: nonce() + ":", marker: nonce(), events: make(chan event, 8)}
}

// command is cmd run as the user through the method, after printing the
// marker.
func (x *exchange) command(cmd string) string {
	script := quote("echo " + x.marker + " >&2; exec " + cmd)
	user := quote(x.as.user())
	switch x.as.method() {
	case Su:
		// -s: the user's login shell may be any; su ignores it for users
		// whose shell is not in /etc/shells, unless run by root.
		return "su -s /bin/sh " + user + " -c " + script
	case Doas:
		return "doas -n -u " + user + " sh -c " + script
	}
	return "sudo -S -p " + quote(x.prompt) + " -H -u " + user + " -- sh -c " + script
}

// stderr is the writer for the command's stderr, which passes on to out
// what follows the marker.
func (x *exchange) stderr(out io.Writer) io.Writer {
	x.out = out
	return x
}

func (x *exchange) Write(p []byte) (int, error) {
	x.mu.Lock()
	if x.through {
		x.mu.Unlock()
		return x.out.Write(p)
	}
	x.said = append(x.said, p...)
	if i := bytes.Index(x.said, []byte(x.marker+"\n")); i >= 0 {
		rest := x.said[i+len(x.marker)+1:]
		x.said, x.through = x.said[:i], true
		x.mu.Unlock()
		x.signal(markerEvent)
		if len(rest) > 0 {
			_, _ = x.out.Write(rest)
		}
		return len(p), nil
	}
	x.findPrompts()
	if over := len(x.said) - maxSaid; over > 0 {
		x.said = append(x.said[:0], x.said[over:]...)
		x.seen = max(x.seen-over, 0)
	}
	x.mu.Unlock()
	return len(p), nil
}

// findPrompts signals the prompts in what the method said since last
// time. x.mu is held.
func (x *exchange) findPrompts() {
	switch x.as.method() {
	case Sudo:
		for {
			i := bytes.Index(x.said[x.seen:], []byte(x.prompt))
			if i < 0 {
				return
			}
			x.seen += i + len(x.prompt)
			x.signal(promptEvent)
		}
	case Su:
		// A prompt is a line that does not end, in ":" and maybe spaces
		// ("Password: ", "Passwort: ", "Mot de passe : "): PAM's other
		// messages end their lines.
		if len(x.said) == x.seen {
			return
		}
		tail := x.said[bytes.LastIndexByte(x.said, '\n')+1:]
		if bytes.HasSuffix(bytes.TrimRight(tail, " "), []byte(":")) {
			x.seen = len(x.said)
			x.signal(promptEvent)
		}
	}
}

func (x *exchange) signal(ev event) {
	select {
	case x.events <- ev:
	default:
	}
}

// ran reports whether the command runs as the user.
func (x *exchange) ran() bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.through
}

// answer writes the password to stdin when the method asks for it, until
// the command runs as the user; ended is closed when the method or the
// command has ended.
func (x *exchange) answer(ctx context.Context, stdin io.Writer, ended <-chan struct{}) error {
	prompts := 0
	limit := time.NewTimer(becomeWait)
	defer limit.Stop()
	for {
		select {
		case ev := <-x.events:
			if ev == markerEvent {
				return nil
			}
			prompts++
			switch {
			case x.as.Password == "":
				return x.as.fail(ErrNoPassword)
			case prompts > 1:
				return x.as.fail(ErrIncorrectPassword)
			}
			if _, err := io.WriteString(stdin, x.as.Password+"\n"); err != nil {
				return x.as.fail(fmt.Errorf("%s stopped reading before the password: %w", x.as.method(), err))
			}
		case <-ended:
			if x.ran() {
				return nil
			}
			return x.as.fail(x.refusal())
		case <-limit.C:
			x.mu.Lock()
			said := strings.TrimSpace(strings.ReplaceAll(string(x.said), x.prompt, ""))
			x.mu.Unlock()
			if said == "" {
				said = "nothing"
			}
			return x.as.fail(fmt.Errorf("%s neither asked for a password as runbook knows nor ran the command within %s; it said: %s", x.as.method(), becomeWait, tasks.LastLines(said, 3)))
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// refusal is why the method ended without running the command, from what
// it said.
func (x *exchange) refusal() error {
	x.mu.Lock()
	said := string(x.said)
	x.mu.Unlock()
	said = strings.TrimSpace(strings.ReplaceAll(said, x.prompt, ""))
	switch {
	case strings.Contains(said, "incorrect password attempt"), // sudo
		strings.Contains(said, "Authentication failure"): // su
		return ErrIncorrectPassword
	case strings.Contains(said, sudoNoPassword):
		return ErrNoPassword
	case strings.Contains(said, "doas: Authentication required"):
		return errDoasPassword
	case said == "":
		return fmt.Errorf("%s ended before running the command, and said nothing", x.as.method())
	}
	return errors.New(tasks.LastLines(said, 3))
}

// feed answers the method, then writes in to the command's stdin and
// closes it. A copy cut short (the run cancelled, the session gone) does
// not close it: the session's end says what happened.
func (x *exchange) feed(ctx context.Context, stdin io.WriteCloser, in io.Reader, ended <-chan struct{}) error {
	if err := x.answer(ctx, stdin, ended); err != nil {
		stdin.Close()
		return err
	}
	if _, err := io.Copy(stdin, in); err == nil {
		stdin.Close()
	}
	return nil
}
