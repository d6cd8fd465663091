// Package runlock holds the run-level lock an inventory asks for (its
// `lock:` setting), so that two runs changing one fleet do not interleave.
// The lock is Consul's: a KV key acquired by a session that the holder
// renews, as Consul's lock API does it; runbook adds no lock of its own.
package runlock

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/inventory"
)

// Held is a run lock this run holds.
type Held struct {
	spec    *inventory.RunLock
	client  *api.Client
	lock    *api.Lock
	session string
	lost    <-chan struct{} // closed by the lock API when it sees the lock go

	renewDone  chan struct{} // closed to stop renewing
	renewEnded chan struct{} // closed when renewing stopped on its own
	renewErr   error
	release    sync.Once
}

// Acquire takes the lock, waiting for another holder as long as timeout
// allows (negative: as long as it takes; 0: not at all). say, when not
// nil, is told who holds it while this run waits. holder describes this
// run to others who wait for it.
func Acquire(ctx context.Context, spec *inventory.RunLock, holder string, timeout time.Duration, say func(string)) (*Held, error) {
	cfg := api.DefaultConfig()
	if spec.Consul.Address != "" {
		cfg.Address = spec.Consul.Address
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("take %s at %s: %s", spec, cfg.Address, fmt.Sprintf(format, args...))
	}
	client, err := api.NewClient(cfg)
	if err != nil {
		return nil, fail("%v", err)
	}
	ttl := spec.Consul.TTL
	if ttl == 0 {
		ttl = inventory.DefaultLockTTL
	}
	wo := (&api.WriteOptions{}).WithContext(ctx)
	session, _, err := client.Session().Create(&api.SessionEntry{
		Name:     "runbook: " + holder,
		TTL:      ttl.String(),
		Behavior: api.SessionBehaviorRelease,
	}, wo)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fail("create a session: %v", err)
	}
	h := &Held{spec: spec, client: client, session: session, renewDone: make(chan struct{}), renewEnded: make(chan struct{})}
	go func() {
		h.renewErr = client.Session().RenewPeriodic(ttl.String(), session, nil, h.renewDone)
		close(h.renewEnded)
	}()
	opts := &api.LockOptions{
		Key: spec.Consul.Key, Value: []byte(holder), Session: session,
		MonitorRetries: 3, // ride out a Consul leader election; Check asks at every step anyway
	}
	if timeout >= 0 {
		opts.LockTryOnce, opts.LockWaitTime = true, max(timeout, time.Millisecond)
	}
	h.lock, err = client.LockOpts(opts)
	if err != nil {
		h.Release()
		return nil, fail("%v", err)
	}
	if other := h.holder(ctx); other != "" && say != nil && timeout != 0 {
		say(fmt.Sprintf("waiting for the %s, held by %s", spec, other))
	}
	type result struct {
		lost <-chan struct{}
		err  error
	}
	stop := make(chan struct{})
	done := make(chan result, 1)
	go func() {
		lost, err := h.lock.Lock(stop)
		done <- result{lost, err}
	}()
	select {
	case <-ctx.Done():
		close(stop)
		// Destroying the session releases whatever the abandoned attempt
		// may still acquire.
		h.Release()
		return nil, ctx.Err()
	case r := <-done:
		switch {
		case errors.Is(r.err, api.ErrLockConflict):
			h.Release()
			return nil, fail("key %s holds something else than a lock: give the lock a key of its own", spec.Consul.Key)
		case r.err != nil:
			h.Release()
			return nil, fail("%v", r.err)
		case r.lost == nil:
			other := cmp.Or(h.holder(context.Background()), "another run")
			h.Release()
			return nil, fmt.Errorf("%s is held by %s: gave up after %s (--lock-timeout)", spec, other, timeout)
		}
		h.lost = r.lost
	}
	return h, nil
}

// holder describes whoever else holds the lock now, or is "" when nobody
// does.
func (h *Held) holder(ctx context.Context) string {
	pair, _, err := h.client.KV().Get(h.spec.Consul.Key, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil || pair == nil || pair.Session == "" || pair.Session == h.session {
		return ""
	}
	who := string(pair.Value)
	if who == "" {
		if s, _, err := h.client.Session().Info(pair.Session, (&api.QueryOptions{}).WithContext(ctx)); err == nil && s != nil {
			who = s.Name
		}
	}
	return printable(cmp.Or(who, "session "+pair.Session))
}

// Check says whether the lock is still held, asking Consul: a session
// that expired or was destroyed has released it, and a run that goes on
// then would interleave with the next holder.
func (h *Held) Check() error {
	lost := func(why string) error {
		return fmt.Errorf("lost the %s: %s: stopping the run", h.spec, why)
	}
	select {
	case <-h.lost:
		return lost("Consul released it (its session expired or was destroyed)")
	case <-h.renewEnded:
		return lost(fmt.Sprintf("its session could not be renewed: %v", h.renewErr))
	default:
	}
	pair, _, err := h.client.KV().Get(h.spec.Consul.Key, &api.QueryOptions{RequireConsistent: true})
	switch {
	case err != nil:
		return lost(fmt.Sprintf("cannot ask Consul whether it is still held: %v", err))
	case pair == nil || pair.Session != h.session:
		return lost("Consul no longer gives it to this run's session")
	}
	return nil
}

// Release lets go of the lock and ends the session. It is safe to call
// more than once.
func (h *Held) Release() {
	h.release.Do(func() {
		if h.lost != nil {
			// Held: released at once. Otherwise an attempt may be under
			// way, and destroying the session releases what it takes.
			_ = h.lock.Unlock()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = h.client.Session().Destroy(h.session, (&api.WriteOptions{}).WithContext(ctx))
		close(h.renewDone)
	})
}

// printable keeps what another run wrote from reaching the terminal as
// control characters, and short.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, s)
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
