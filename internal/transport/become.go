package transport

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strings"
)

// Become returns a view of c that does everything as user through sudo,
// which must not ask for a password (sudo -n). Files are streamed through
// the command's stdin, so they never pass through a world-readable place.
// When the connection is already logged in as user, c is returned as is.
func Become(c Conn, user string) Conn {
	if user == "" {
		user = "root"
	}
	if u, ok := c.(interface{ LoginUser() string }); ok && u.LoginUser() == user {
		return c
	}
	return becomeConn{c: c, user: user}
}

type becomeConn struct {
	c    Conn
	user string
}

func (b becomeConn) wrap(cmd string) string {
	return "sudo -n -H -u " + quote(b.user) + " -- sh -c " + quote(cmd)
}

func (b becomeConn) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	return b.c.Run(ctx, b.wrap(cmd), stdin)
}

func (b becomeConn) WriteFile(ctx context.Context, p string, r io.Reader, mode fs.FileMode) error {
	script := fmt.Sprintf(`set -e
t=$(mktemp "$(dirname -- %[1]s)/.runbook-XXXXXX")
trap 'rm -f "$t"' EXIT
cat > "$t"
chmod %[2]o "$t"
mv -f "$t" %[1]s
trap - EXIT`, quote(p), mode.Perm())
	res, err := b.Run(ctx, script, r)
	if err != nil {
		return fmt.Errorf("write %s as %s: %w", p, b.user, err)
	}
	if !res.OK() {
		return fmt.Errorf("write %s as %s: %s", p, b.user, res.Failure())
	}
	return nil
}

func (b becomeConn) ReadFile(ctx context.Context, p string, w io.Writer) error {
	res, err := b.Run(ctx, fmt.Sprintf("[ -e %[1]s ] || exit 44; cat -- %[1]s", quote(p)), nil)
	switch {
	case err != nil:
		return fmt.Errorf("read %s as %s: %w", p, b.user, err)
	case res.Code == 44:
		return fmt.Errorf("read %s: %w", p, fs.ErrNotExist)
	case !res.OK():
		return fmt.Errorf("read %s as %s: %s", p, b.user, res.Failure())
	case bytes.HasSuffix(res.Stdout, []byte("of output dropped]\n")):
		return fmt.Errorf("read %s as %s: larger than %d bytes", p, b.user, maxOutput)
	}
	_, err = w.Write(res.Stdout)
	return err
}

// quote quotes s for a POSIX shell.
func quote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// DialContext dials from the host as the underlying connection does:
// becoming another user changes nothing about the network.
func (b becomeConn) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	d, ok := b.c.(Dialer)
	if !ok {
		return nil, fmt.Errorf("this connection cannot open TCP connections from the host")
	}
	return d.DialContext(ctx, network, addr)
}
