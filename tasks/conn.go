package tasks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
)

// Conn is what a module gets to act on a host. Every capability a
// connection may have is a method here, so that a wrapper (becoming
// another user, a bastion, a recorder) forwards all of them or says it
// cannot: a connection that cannot do something returns an error that is
// ErrNotSupported, never a silent no-op.
//
// Every method honours ctx: when it is cancelled the call returns promptly
// and leaves no half-written file behind.
type Conn interface {
	// Run runs cmd with sh on the host. A non-zero exit is reported in
	// Result, not as an error; errors mean the command could not be run.
	Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error)
	// WriteFile replaces path atomically with what r yields, streaming
	// it: a temporary file that nobody else can read is written, given
	// attrs through its descriptor, and renamed over path. Nothing but
	// the rename is done to path, so a symlink there is replaced, never
	// followed.
	WriteFile(ctx context.Context, path string, r io.Reader, attrs FileAttrs) error
	// CheckWrite says whether WriteFile may write path without
	// writing anything: an error that is ErrUnsafeWay names a directory on
	// the way that another user could change mid-write (WriteFile refuses
	// such a path). Check mode asks it, so that it does not promise a
	// write that applying would refuse.
	CheckWrite(ctx context.Context, path string) error
	// ReadFile copies path to w; a missing file is an fs.ErrNotExist.
	ReadFile(ctx context.Context, path string, w io.Writer) error
	// Inspect describes path without running a command on the host (SFTP
	// LSTAT and STAT, or the controller's lstat(2)), following a final
	// symlink when follow is set; a missing path is an fs.ErrNotExist.
	// ErrNotSupported means the host offers no way to: ask with a command.
	Inspect(ctx context.Context, path string, follow bool) (FileStat, error)
	// DialContext opens a TCP connection from the host, such as to a
	// service that listens only on the host's loopback (SSH port
	// forwarding; directly for the controller).
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
	// Lock waits until it holds the host's lock named key, or ctx ends;
	// waiting, when not nil, is called once if another runbook run makes
	// it wait. The lock is held until unlock is called, or the run or its
	// connection ends. ErrNotSupported means the host cannot hold one.
	Lock(ctx context.Context, key string, waiting func()) (unlock func(), err error)
	// User is the user that commands run as and files are written as.
	User() string
}

// Reconnecter is a Conn that can drop its connection to the host and dial
// it again the same way (a module that rebooted the host waits for it with
// this): the engine's later steps on the host then use the new one.
// Reconnect fails as dialing does while the host is not back. A wrapper
// (become, the engine's) forwards both methods to what it wraps.
type Reconnecter interface {
	Reconnect(ctx context.Context) error
	// CanReconnect says whether Reconnect can work at all (the
	// controller itself has no connection to make again): asked before
	// doing what only a reconnect recovers from.
	CanReconnect() bool
}

// CanReconnect reports whether c can reconnect (see Reconnecter).
func CanReconnect(c Conn) bool {
	r, ok := c.(Reconnecter)
	return ok && r.CanReconnect()
}

// ErrUnsafeWay marks a write refused because a directory on the way to
// the file can be changed by another user, who could point the write
// elsewhere (docs/security.md, "The way to the file").
var ErrUnsafeWay = errors.New("is not safe to write through: another user could swap what it holds for a symlink mid-write")

// ErrNotSupported is what a Conn returns for a capability it lacks.
var ErrNotSupported = errors.New("not supported by this connection")

// Result is what a command did.
type Result struct {
	Stdout []byte
	Stderr []byte
	Code   int
	// Truncated says some output was dropped: the connection keeps a
	// bounded amount of each stream, and notes the rest at its end.
	Truncated bool
}

// OK reports whether the command exited 0.
func (r Result) OK() bool { return r.Code == 0 }

// Failure describes a failed command with the end of its stderr (or of
// its stdout, when stderr is empty).
func (r Result) Failure() string {
	msg := fmt.Sprintf("exit status %d", r.Code)
	if tail := LastLines(string(r.Stderr), 5); tail != "" {
		msg += ": " + tail
	} else if tail := LastLines(string(r.Stdout), 5); tail != "" {
		msg += ": " + tail
	}
	return msg
}

// LastLines is the last n non-empty lines of s, joined with " | ", for
// one-line messages.
func LastLines(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(len(lines)-n, 0):], " | ")
}

// FileAttrs is what Conn.WriteFile gives a file before it is in place.
type FileAttrs struct {
	Mode fs.FileMode // permission bits, with fs.ModeSetuid, ModeSetgid, ModeSticky
	UID  int         // owner; -1: the writer's
	GID  int         // group; -1: the writer's
	Size int64       // what the reader yields, checked on the host; -1: not known
}

// FileStat is what Conn.Inspect found at a path.
type FileStat struct {
	// Type is "file", "directory", "symlink", or stat(1)'s words for the
	// others ("fifo", "socket", "character special file", "block
	// special file").
	Type     string
	Perm     uint32 // permission bits, with setuid, setgid and sticky
	UID, GID uint32
	Size     int64
}
