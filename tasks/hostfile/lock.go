package hostfile

import (
	"context"
	"errors"
	"fmt"
	"path"
	"sync"

	"github.com/runbookdev/runbook/tasks"
)

// unlockedHosts are the hosts already warned about editing without locks:
// once is enough.
var unlockedHosts sync.Map

// Lock holds the host's lock on the file at p for a read-modify-write
// of it: a module that computes new content from the old must re-read the
// file once it holds the lock, and write it before unlocking, so that two
// runs editing one file cannot lose each other's edits. Where the host
// cannot hold locks the edit goes on unlocked, as it always did, and the
// log says so.
func Lock(ctx context.Context, h *tasks.Host, p string) (unlock func(), err error) {
	p = path.Clean(p)
	unlock, err = h.Conn.Lock(ctx, "file:"+p, func() {
		h.Say("waiting for another runbook run to finish editing %s", p)
	})
	switch {
	case errors.Is(err, tasks.ErrNotSupported):
		if _, said := unlockedHosts.LoadOrStore(h.Name, true); !said && h.Log != nil {
			h.Log.Warn("editing files without a lock: another run may edit one at the same time", "path", p, "why", err)
		}
		return func() {}, nil
	case err != nil:
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return unlock, nil
}
