package transport

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"

	"github.com/runbookdev/runbook/tasks"
)

// redialer is the pool's connection to a remote host: it does everything
// through the host's current SSH connection, which Reconnect replaces (the
// host rebooted), so that whoever holds it, the engine's later steps
// included, goes on with the new one.
type redialer struct {
	pool     *Pool
	target   Target
	commands *atomic.Int64

	mu  sync.RWMutex
	cur *SSH
}

// conn is the current connection.
func (r *redialer) conn() *SSH {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cur
}

// Reconnect closes the connection and dials the host again, the same way
// (its address, user, keys and bastions; its host key checked as before).
// Until it succeeds every call fails as the closed connection does.
func (r *redialer) Reconnect(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	// Mostly already dead (the host went away): what closing says is moot.
	r.cur.Close()
	c, _, err := r.pool.dial(ctx, r.target, r.commands)
	if err != nil {
		return fmt.Errorf("reconnect to %s: %w", r.target.Name, err)
	}
	r.cur = c.(*SSH)
	return nil
}

// CanReconnect is true: see tasks.Reconnecter.
func (r *redialer) CanReconnect() bool { return true }

// Close ends the current connection.
func (r *redialer) Close() error { return r.conn().Close() }

func (r *redialer) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	return r.conn().Run(ctx, cmd, stdin)
}

func (r *redialer) WriteFile(ctx context.Context, p string, rd io.Reader, attrs FileAttrs) error {
	return r.conn().WriteFile(ctx, p, rd, attrs)
}

func (r *redialer) CheckWrite(ctx context.Context, p string) error {
	return r.conn().CheckWrite(ctx, p)
}

func (r *redialer) ReadFile(ctx context.Context, p string, w io.Writer) error {
	return r.conn().ReadFile(ctx, p, w)
}

func (r *redialer) Inspect(ctx context.Context, p string, follow bool) (FileStat, error) {
	return r.conn().Inspect(ctx, p, follow)
}

func (r *redialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return r.conn().DialContext(ctx, network, addr)
}

func (r *redialer) Lock(ctx context.Context, key string, waiting func()) (func(), error) {
	return r.conn().Lock(ctx, key, waiting)
}

func (r *redialer) User() string { return r.conn().User() }

// What Become asks of the connection under it (see becomeConn).

func (r *redialer) runAs(ctx context.Context, cmd string, stdin io.Reader, as *Escalation) (Result, error) {
	return r.conn().runAs(ctx, cmd, stdin, as)
}

func (r *redialer) lockAs(ctx context.Context, key string, as *Escalation, waiting func()) (func(), error) {
	return r.conn().lockAs(ctx, key, as, waiting)
}

func (r *redialer) fileServer(ctx context.Context, as *Escalation) (*fileServer, func(), error) {
	return r.conn().fileServer(ctx, as)
}

// CanReconnect says whether the connection under the become view can.
func (b becomeConn) CanReconnect() bool { return tasks.CanReconnect(b.c) }

// Reconnect reconnects the connection under the become view.
func (b becomeConn) Reconnect(ctx context.Context) error {
	rc, ok := b.c.(tasks.Reconnecter)
	if !ok {
		return fmt.Errorf("reconnect: %w", tasks.ErrNotSupported)
	}
	return rc.Reconnect(ctx)
}
