package transport_test

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/tasks"
)

// The pool's connection comes back after the host dropped it (rebooted):
// commands, files, locks and become work on the new one, through the same
// Conn the engine holds and hands to later steps.
func TestReconnectAfterTheHostDroppedTheConnection(t *testing.T) {
	requireRoot(t)
	s := sshtest.Start(t)
	pool, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	as := transport.Become(c, transport.Escalation{User: "nobody"})
	if _, err := c.Run(ctx, "true", nil); err != nil {
		t.Fatal(err)
	}
	unlock, err := c.Lock(ctx, "test:"+t.Name(), nil)
	if err != nil {
		t.Fatal(err)
	}
	unlock()

	s.Drop(t)
	if _, err := c.Run(ctx, "true", nil); !transport.IsConnError(err) {
		t.Fatalf("Run on a dropped connection = %v, want a ConnError", err)
	}
	r, ok := as.(tasks.Reconnecter)
	if !ok || !tasks.CanReconnect(as) {
		t.Fatalf("%T (become over the pool's connection) cannot reconnect", as)
	}
	if tasks.CanReconnect(transport.Become(transport.Local{}, transport.Escalation{User: "nobody"})) {
		t.Error("become on the controller says it can reconnect")
	}
	if err := r.Reconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := pool.Get(ctx, transport.Target{Name: "h1"}); got != c {
		t.Fatal("the pool hands out another Conn after a reconnect: later steps would not see it")
	}
	if n := pool.Opened(); n != 2 {
		t.Errorf("connections opened = %d, want 2 (the first and the reconnect)", n)
	}

	res, err := c.Run(ctx, "echo back", nil)
	if err != nil || string(res.Stdout) != "back\n" {
		t.Fatalf("Run after reconnect = %q, %v", res.Stdout, err)
	}
	p := filepath.Join(t.TempDir(), "f.txt")
	if err := c.WriteFile(ctx, p, strings.NewReader("after"), transport.Attrs(0o600)); err != nil {
		t.Fatalf("WriteFile after reconnect: %v", err)
	}
	var buf bytes.Buffer
	if err := c.ReadFile(ctx, p, &buf); err != nil || buf.String() != "after" {
		t.Fatalf("ReadFile after reconnect = %q, %v", buf.String(), err)
	}
	unlock, err = c.Lock(ctx, "test:"+t.Name(), nil)
	if err != nil {
		t.Fatalf("Lock after reconnect: %v", err)
	}
	if !heldOnHost(t, "test:"+t.Name()) {
		t.Error("the lock taken after reconnect is not held on the host")
	}
	unlock()
	res, err = as.Run(ctx, "id -un", nil)
	if err != nil || strings.TrimSpace(string(res.Stdout)) != "nobody" {
		t.Fatalf("become nobody after reconnect: %q %q, %v", res.Stdout, res.Stderr, err)
	}
}
