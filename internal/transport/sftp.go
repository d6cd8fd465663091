package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pkg/sftp"
	"github.com/runbookdev/runbook/tasks"
)

// Files are written through an SFTP server that runbook starts itself on
// the host (OpenSSH's sftp-server, as the login user or through sudo as
// the user it becomes), rather than through the SSH server's subsystem,
// for two things the subsystem cannot promise:
//
//   - its umask is 077, so a temporary file is unreadable by anybody else
//     from the moment it exists (a reader who opened it before a later
//     chmod would keep reading through that descriptor);
//   - mode and ownership are set through the open handle (fchmod, fchown)
//     before the rename, so nothing is ever done to a path that another
//     local user could have swapped for a symlink.
//
// It prints its pid before it starts, which names the temporary files it
// writes, so that a later run can tell those of a writer that died
// (kill -9, lost connection) from those of one still writing.

// sftpServers are where OpenSSH's sftp-server is installed on common
// systems, in the order tried. A variable for tests.
var sftpServers = []string{
	"/usr/lib/openssh/sftp-server",     // Debian, Ubuntu
	"/usr/libexec/openssh/sftp-server", // RHEL, Fedora, SUSE
	"/usr/lib/ssh/sftp-server",         // Arch
	"/usr/lib/misc/sftp-server",        // Gentoo
	"/usr/libexec/sftp-server",         // BSDs, macOS
}

// sftpScript starts the first sftp-server found, after printing its pid
// (exec keeps it) on the stream the SFTP protocol then takes over.
func sftpScript() string {
	var b strings.Builder
	b.WriteString("for p in")
	for _, p := range sftpServers {
		b.WriteString(" " + quote(p))
	}
	b.WriteString(`; do
  if [ -x "$p" ]; then printf '%s\n' "$$"; exec "$p" -u 077; fi
done
echo "no sftp-server program in` + strings.Join(sftpServers, " ") + `" >&2
exit 127`)
	return b.String()
}

// errNoSFTPServer means the host has no sftp-server program where runbook
// looks for one.
var errNoSFTPServer = errors.New("the host has no OpenSSH sftp-server program (install openssh-sftp-server, or openssh-server on RHEL)")

// fileServer is an SFTP client of a server runbook started.
type fileServer struct {
	*sftp.Client
	pid  int // of the server, on the host
	stop func()
	// gone is closed when the server or its connection ended (killed on
	// the host, or a protocol error): a new one must be started.
	gone chan struct{}
	why  func() string // what ended it, once gone

	procOnce sync.Once
	procOK   bool
	uidOnce  sync.Once
	uidOf    int
}

// pipe is a command started on a host with streams for its input and
// output, for protocols spoken over them.
type pipe struct {
	stdin  io.WriteCloser
	stdout io.Reader
	errOut *syncCapped // its stderr, so far
	ended  chan struct{}
	close  func()
}

// stderr is what the command printed on stderr, once it ended (or after
// a moment: a command that does not end is not waited for).
func (p *pipe) stderr() string {
	select {
	case <-p.ended:
	case <-time.After(2 * time.Second):
	}
	return p.errOut.String()
}

// startFileServer starts sftp-server through start as the user as says
// (nil: the login user) and speaks SFTP with it.
func startFileServer(ctx context.Context, start starter, as *Escalation) (*fileServer, error) {
	p, err := startAs(ctx, start, as, "sh -c "+quote(sftpScript()))
	if err != nil {
		return nil, err
	}
	var srv *fileServer
	err = withCtx(ctx, func() error {
		pid, err := readPid(p.stdout)
		if err != nil {
			msg := p.stderr()
			if why := as.explain(msg); why != nil {
				return why
			}
			if strings.Contains(msg, "no sftp-server program") {
				return errNoSFTPServer
			}
			if msg != "" {
				return fmt.Errorf("%w: %s", err, tasks.LastLines(msg, 3))
			}
			return err
		}
		c, err := sftp.NewClientPipe(p.stdout, p.stdin, sftp.UseConcurrentWrites(true))
		if err != nil {
			return err
		}
		srv = &fileServer{Client: c, pid: pid, stop: func() { c.Close(); p.close() }, gone: make(chan struct{})}
		var ended atomic.Pointer[error] // the SFTP connection's end, once seen
		srv.why = func() string {
			why := fmt.Sprintf("sftp-server (pid %d) ended", pid)
			if e := ended.Load(); e != nil && *e != nil {
				why += ": " + (*e).Error()
			}
			if msg := p.errOut.String(); msg != "" {
				why += ": " + tasks.LastLines(msg, 3)
			}
			return why
		}
		clientDone := make(chan struct{})
		go func() {
			err := c.Wait()
			ended.Store(&err)
			close(clientDone)
		}()
		go func() {
			select {
			case <-p.ended:
			case <-clientDone:
			}
			close(srv.gone)
		}()
		return nil
	})
	if err != nil {
		p.close()
		return nil, err
	}
	return srv, nil
}

// ended tells whether srv is gone.
func (srv *fileServer) ended() bool {
	select {
	case <-srv.gone:
		return true
	default:
		return false
	}
}

// lost wraps err, when it says the server's stream broke (not an answer
// of the server's), with why the server ended, once that is seen.
func (srv *fileServer) lost(err error) error {
	if !streamBroke(err) {
		return err
	}
	select {
	case <-srv.gone:
		return fmt.Errorf("%w (%s)", err, srv.why())
	case <-time.After(time.Second):
		return err
	}
}

// streamBroke tells whether err is the SFTP stream's end: the server died
// or its connection broke.
func streamBroke(err error) bool {
	for _, e := range []error{sftp.ErrSSHFxConnectionLost, io.EOF, io.ErrUnexpectedEOF, io.ErrClosedPipe, os.ErrClosed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// readPid reads the first line of the stream byte by byte: what follows
// belongs to the SFTP client.
func readPid(r io.Reader) (int, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) < 16 {
		if _, err := io.ReadFull(r, b); err != nil {
			return 0, fmt.Errorf("start sftp-server: %w", err)
		}
		if b[0] == '\n' {
			return strconv.Atoi(string(line))
		}
		line = append(line, b[0])
	}
	return 0, fmt.Errorf("start sftp-server: it sent %q instead of its pid", line)
}

// serverStarter is implemented by connections that can start an SFTP
// server on the host as a given user (nil for the login user). release
// ends what the call started, if it is not kept for the run.
type serverStarter interface {
	fileServer(ctx context.Context, as *Escalation) (srv *fileServer, release func(), err error)
}

// sftpFS writes through an SFTP server.
type sftpFS struct{ *fileServer }

// hasProc tells whether the host has /proc, where sweep tells a live
// writer from a dead one; asked once per server.
func (s sftpFS) hasProc() bool {
	s.procOnce.Do(func() {
		_, err := s.Lstat("/proc/self")
		s.procOK = err == nil
	})
	return s.procOK
}

func (s sftpFS) create(name string) (tempFile, error) {
	return s.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
}
func (s sftpFS) rename(from, to string) error           { return s.PosixRename(from, to) }
func (s sftpFS) lstat(name string) (fs.FileInfo, error) { return s.Lstat(name) }
func (s sftpFS) readlink(name string) (string, error)   { return s.ReadLink(name) }

// uid is the server's: the owner of its /proc entry, asked once.
func (s sftpFS) uid() int {
	s.uidOnce.Do(func() {
		s.uidOf = -1
		if fi, err := s.Stat("/proc/" + strconv.Itoa(s.fileServer.pid)); err == nil {
			if uid, _, ok := owner(fi); ok {
				s.uidOf = uid
			}
		}
	})
	return s.uidOf
}
func (s sftpFS) remove(name string) error { return s.Remove(name) }
func (s sftpFS) readDir(dir string) ([]fs.FileInfo, error) {
	return s.ReadDir(dir)
}
func (s sftpFS) pid() int { return s.fileServer.pid }
func (s sftpFS) alive(pid int) bool {
	if !s.hasProc() {
		return true
	}
	_, err := s.Lstat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// writeSFTP is WriteFile through the server c starts as the user as says.
func writeSFTP(ctx context.Context, c serverStarter, as *Escalation, p string, r io.Reader, attrs FileAttrs) error {
	cr := &countReader{r: r}
	return withServer(ctx, c, as, p, func(srv *fileServer) error {
		return writeFile(ctx, sftpFS{srv}, p, cr, attrs)
	}, func() bool { return cr.n == 0 })
}

// checkSFTP is CheckWrite through the server c starts as the user as says.
func checkSFTP(ctx context.Context, c serverStarter, as *Escalation, p string) error {
	return withServer(ctx, c, as, p, func(srv *fileServer) error {
		return withCtx(ctx, func() error { return checkPath(sftpFS{srv}, p, true) })
	}, func() bool { return true })
}

// withServer runs op with the server c starts as the user as says. A
// server found dead by op (killed on the host: its session's end can be
// seen after the next request fails) is replaced and op run once more,
// when again says it can be.
func withServer(ctx context.Context, c serverStarter, as *Escalation, p string, op func(*fileServer) error, again func() bool) error {
	for try := 0; ; try++ {
		srv, release, err := c.fileServer(ctx, as)
		if err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		err = srv.lost(op(srv))
		release()
		if try == 0 && err != nil && srv.ended() && ctx.Err() == nil && again() {
			continue
		}
		return err
	}
}

// countReader counts what was read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// readSFTP copies p to w through c's SFTP client.
func readSFTP(ctx context.Context, c *sftp.Client, p string, w io.Writer) error {
	f, err := c.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read %s: %w", p, fs.ErrNotExist)
		}
		return fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	if _, err := f.WriteTo(ctxWriter{ctx, w}); err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return nil
}

// inspectSFTP is Inspect through c.
func inspectSFTP(ctx context.Context, c *sftp.Client, p string, follow bool) (FileStat, error) {
	var fi fs.FileInfo
	err := withCtx(ctx, func() (err error) {
		if follow {
			fi, err = c.Stat(p)
		} else {
			fi, err = c.Lstat(p)
		}
		return err
	})
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return FileStat{}, fmt.Errorf("inspect %s: %w", p, fs.ErrNotExist)
		}
		return FileStat{}, fmt.Errorf("inspect %s: %w", p, err)
	}
	st, ok := fi.Sys().(*sftp.FileStat)
	if !ok {
		return FileStat{}, fmt.Errorf("inspect %s: the SFTP server sent no attributes", p)
	}
	return fileStat(st.Mode, st.UID, st.GID, int64(st.Size)), nil
}
