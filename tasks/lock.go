package tasks

import (
	"context"

	"github.com/runbookdev/runbook/internal/transport"
)

// ErrNoLock means the connection or the host cannot hold a lock.
var ErrNoLock = transport.ErrNoLock

// Lock waits until it holds the host's lock named key (see
// transport.Locker), or ctx ends; waiting, when not nil, is called if
// another runbook run holds it. A connection that cannot hold locks gives
// an error that is ErrNoLock.
func Lock(ctx context.Context, c Conn, key string, waiting func()) (unlock func(), err error) {
	l, ok := c.(transport.Locker)
	if !ok {
		return nil, ErrNoLock
	}
	return l.Lock(ctx, key, waiting)
}
