package runlock_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/consultest"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runlock"
	"github.com/runbookdev/runbook/inventory"
)

func spec(a *consultest.Agent, key string) *inventory.RunLock {
	return &inventory.RunLock{
		File: "inv.yaml", Pos: decode.Pos{File: "inv.yaml", Line: 3, Col: 1},
		Consul: inventory.ConsulLock{Key: key, Address: a.Addr, TTL: 10 * time.Second},
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s, still not: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type said struct {
	mu   sync.Mutex
	msgs []string
}

func (s *said) say(m string) { s.mu.Lock(); s.msgs = append(s.msgs, m); s.mu.Unlock() }
func (s *said) has(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

type acquired struct {
	h   *runlock.Held
	err error
}

// One agent for all: starting one is most of these tests' time.
func TestRunLock(t *testing.T) {
	a := consultest.Start(t)
	t.Run("second run waits, naming the holder", func(t *testing.T) { testSecondRunWaitsNamingTheHolder(t, a) })
	t.Run("lock timeout", func(t *testing.T) { testLockTimeout(t, a) })
	t.Run("lost lock", func(t *testing.T) { testLostLock(t, a) })
	t.Run("cancelled while waiting", func(t *testing.T) { testCancelledWhileWaiting(t, a) })
	t.Run("key in use", func(t *testing.T) { testLockKeyInUse(t, a) })
}

func acquire(ctx context.Context, sp *inventory.RunLock, who string, timeout time.Duration, s *said) chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		h, err := runlock.Acquire(ctx, sp, who, timeout, s.say)
		ch <- acquired{h, err}
	}()
	return ch
}

func testSecondRunWaitsNamingTheHolder(t *testing.T, a *consultest.Agent) {
	sp := spec(a, "runbook/locks/"+strings.ReplaceAll(t.Name(), " ", "-"))
	first, err := runlock.Acquire(context.Background(), sp, "alice@ctl (pid 1)", -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Check(); err != nil {
		t.Fatalf("Check while held: %v", err)
	}
	var s said
	got := acquire(context.Background(), sp, "bob@ctl (pid 2)", -1, &s)
	eventually(t, "the second run says who it waits for", func() bool { return s.has("held by alice@ctl (pid 1)") })
	select {
	case r := <-got:
		t.Fatalf("the second run took the lock while the first held it: %v", r.err)
	default:
	}
	first.Release()
	var r acquired
	select {
	case r = <-got:
	case <-time.After(60 * time.Second):
		t.Fatal("the second run did not get the lock 60s after the first let go")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.h.Release()
	if err := r.h.Check(); err != nil {
		t.Fatal(err)
	}
	pair, _, err := a.Client.KV().Get(sp.Consul.Key, nil)
	if err != nil || pair == nil || string(pair.Value) != "bob@ctl (pid 2)" {
		t.Fatalf("the lock's value: %+v, %v", pair, err)
	}
}

func testLockTimeout(t *testing.T, a *consultest.Agent) {
	sp := spec(a, "runbook/locks/"+strings.ReplaceAll(t.Name(), " ", "-"))
	first, err := runlock.Acquire(context.Background(), sp, "alice@ctl (pid 1)", -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Release()
	for _, timeout := range []time.Duration{0, time.Second} {
		_, err := runlock.Acquire(context.Background(), sp, "bob", timeout, nil)
		if err == nil || !strings.Contains(err.Error(), "is held by alice@ctl (pid 1): gave up after") {
			t.Errorf("--lock-timeout %s: %v, want a refusal naming the holder", timeout, err)
		}
	}
	if err := first.Check(); err != nil {
		t.Fatalf("the holder lost the lock to a run that gave up: %v", err)
	}
}

// A run whose session is invalidated (expired, destroyed by an operator)
// has lost the lock: Check says so, so that the run stops at the next step.
func testLostLock(t *testing.T, a *consultest.Agent) {
	sp := spec(a, "runbook/locks/"+strings.ReplaceAll(t.Name(), " ", "-"))
	h, err := runlock.Acquire(context.Background(), sp, "alice", -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Release()
	pair, _, err := a.Client.KV().Get(sp.Consul.Key, nil)
	if err != nil || pair == nil || pair.Session == "" {
		t.Fatalf("lock key: %+v %v", pair, err)
	}
	if _, err := a.Client.Session().Destroy(pair.Session, nil); err != nil {
		t.Fatal(err)
	}
	// Asked right away: Check asks Consul, it does not wait to be told.
	if err := h.Check(); err == nil || !strings.Contains(err.Error(), "lost the run lock") {
		t.Fatalf("Check after the session was destroyed = %v", err)
	}
}

// A run that gives up waiting (Ctrl-C) leaves nothing that would take the
// lock after it and keep it.
func testCancelledWhileWaiting(t *testing.T, a *consultest.Agent) {
	sp := spec(a, "runbook/locks/"+strings.ReplaceAll(t.Name(), " ", "-"))
	first, err := runlock.Acquire(context.Background(), sp, "dave", -1, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var s said
	got := acquire(ctx, sp, "erin", -1, &s)
	eventually(t, "the second run waits", func() bool { return s.has("held by dave") })
	cancel()
	select {
	case r := <-got:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled Acquire = %v", r.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("a cancelled Acquire did not return")
	}
	first.Release()
	third, err := runlock.Acquire(context.Background(), sp, "carol", 30*time.Second, nil)
	if err != nil {
		t.Fatalf("the lock after both let go: %v", err)
	}
	third.Release()
	sessions, _, err := a.Client.Session().List(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sessions {
		if s.Name == "runbook: dave" || s.Name == "runbook: erin" || s.Name == "runbook: carol" {
			t.Errorf("session left behind: %+v", s)
		}
	}
}

// The key must hold a lock, not some other value an operator put there.
func testLockKeyInUse(t *testing.T, a *consultest.Agent) {
	sp := spec(a, "runbook/locks/"+strings.ReplaceAll(t.Name(), " ", "-"))
	if _, err := a.Client.KV().Put(&api.KVPair{Key: sp.Consul.Key, Value: []byte("config")}, nil); err != nil {
		t.Fatal(err)
	}
	_, err := runlock.Acquire(context.Background(), sp, "alice", 0, nil)
	if err == nil || !strings.Contains(err.Error(), "holds something else than a lock") {
		t.Fatalf("Acquire on a key in use = %v", err)
	}
}
