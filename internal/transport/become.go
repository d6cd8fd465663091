package transport

import (
	"context"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/tasks"
)

// Become returns a view of c that does everything as the user as says,
// through sudo (sudo -n without a password), su or doas. Files are
// written and read through an SFTP server started as the user (see
// writeFile), so they never pass through a place another user can read
// or swap. When the connection is already logged in as the user, c is
// returned as is.
func Become(c Conn, as Escalation) Conn {
	as.User = as.user()
	if c.User() == as.User {
		return c
	}
	return becomeConn{c: c, as: as}
}

type becomeConn struct {
	c  Conn
	as Escalation
}

// Run runs cmd as the user. The command is not an argument of sudo or of
// the shell it starts, where every local user would see it in ps: the
// shell reads it from the first bytes of its stdin (see stdinScript).
//
// With a password, or through su or doas, each command runs in a session
// of its own, whose stdin carries the password when the method asks for
// it (see exchange), then the command.
func (b becomeConn) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	if b.as.prompted() {
		r, ok := b.c.(interface {
			runAs(context.Context, string, io.Reader, *Escalation) (Result, error)
		})
		if !ok {
			return Result{}, b.as.fail(tasks.ErrNotSupported)
		}
		return r.runAs(ctx, cmd, stdin, &b.as)
	}
	sudo := b.sudo(stdinScript(cmd))
	var res Result
	var err error
	if stdin == nil {
		// printf is a builtin: the command is not in anybody's argv here
		// either, and the connection may run this in its long-lived shell.
		res, err = b.c.Run(ctx, "printf %s "+quote(cmd)+" | "+sudo, nil)
	} else {
		res, err = b.c.Run(ctx, sudo, io.MultiReader(strings.NewReader(cmd), stdin))
	}
	if err == nil && res.Code == 1 {
		if why := b.as.explain(string(res.Stderr)); why != nil {
			return Result{}, why
		}
	}
	return res, err
}

// sudo is cmd run as the user; cmd must hold nothing secret (see Run).
func (b becomeConn) sudo(cmd string) string { return b.as.wrap(cmd) }

// stdinScript is a command for sh that runs the script held in the first
// len(script) bytes of its stdin, leaving the rest of stdin to it.
func stdinScript(script string) string {
	return "sh -c " + quote(readScript(len(script)))
}

// readScript runs the script in the first n bytes of stdin. GNU and
// busybox head read no more than they are asked for.
func readScript(n int) string {
	return `eval "$(head -c ` + strconv.Itoa(n) + `)"`
}

func (b becomeConn) starter() (serverStarter, error) {
	st, ok := b.c.(serverStarter)
	if !ok {
		return nil, fmt.Errorf("move files as %s: %w", b.as.User, tasks.ErrNotSupported)
	}
	return st, nil
}

func (b becomeConn) WriteFile(ctx context.Context, p string, r io.Reader, attrs FileAttrs) error {
	st, err := b.starter()
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return writeSFTP(ctx, st, &b.as, p, r, attrs)
}

func (b becomeConn) CheckWrite(ctx context.Context, p string) error {
	st, err := b.starter()
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return checkSFTP(ctx, st, &b.as, p)
}

func (b becomeConn) ReadFile(ctx context.Context, p string, w io.Writer) error {
	st, err := b.starter()
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	srv, release, err := st.fileServer(ctx, &b.as)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	defer release()
	return readSFTP(ctx, srv.Client, p, w)
}

// Inspect looks at p as the user, through the user's SFTP server.
func (b becomeConn) Inspect(ctx context.Context, p string, follow bool) (FileStat, error) {
	st, err := b.starter()
	if err != nil {
		return FileStat{}, fmt.Errorf("%w: %w", ErrCannotInspect, err)
	}
	srv, release, err := st.fileServer(ctx, &b.as)
	if err != nil {
		if IsConnError(err) || ctx.Err() != nil {
			return FileStat{}, err
		}
		return FileStat{}, fmt.Errorf("%w: %w", ErrCannotInspect, err)
	}
	defer release()
	return inspectSFTP(ctx, srv.Client, p, follow)
}

// quote quotes s for a POSIX shell.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// DialContext dials from the host as the underlying connection does:
// becoming another user changes nothing about the network.
func (b becomeConn) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return b.c.DialContext(ctx, network, addr)
}

// User is the user commands run as.
func (b becomeConn) User() string { return b.as.User }
