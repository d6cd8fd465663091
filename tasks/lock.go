package tasks

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"

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

// unlockedHosts are the hosts already warned about editing without locks:
// once is enough.
var unlockedHosts sync.Map

// LockFile holds the host's lock on the file at p for a read-modify-write
// of it: a module that computes new content from the old must re-read the
// file once it holds the lock, and write it before unlocking, so that two
// runs editing one file cannot lose each other's edits. Where the host
// cannot hold locks the edit goes on unlocked, as it always did, and the
// log says so.
func LockFile(ctx context.Context, h *Host, p string) (unlock func(), err error) {
	p = path.Clean(p)
	unlock, err = Lock(ctx, h.Conn, "file:"+p, func() {
		h.Say("waiting for another runbook run to finish editing %s", p)
	})
	switch {
	case errors.Is(err, ErrNoLock):
		if _, said := unlockedHosts.LoadOrStore(h.Name, true); !said && h.Log != nil {
			h.Log.Warn("editing files without a lock: another run may edit one at the same time", "path", p, "why", err)
		}
		return func() {}, nil
	case err != nil:
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return unlock, nil
}
