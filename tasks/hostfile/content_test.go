package hostfile_test

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

// A file on the controller that changes between the check and the write
// (an editor saving it, a build writing it) fails the write: what is
// written is what was compared with the host's file, or nothing.
func TestLocalFileChangedSinceCheck(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	dest := filepath.Join(dir, "dest")
	if err := os.WriteFile(src, []byte("checked\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dest, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	content, err := hostfile.LocalFile(src)
	if err != nil {
		t.Fatal(err)
	}
	h := &tasks.Host{Name: "h1", Conn: transport.Local{}, Log: slog.New(slog.DiscardHandler)}
	c, err := hostfile.Plan(ctx, h, hostfile.Spec{Path: dest, Content: content})
	if err != nil || c.Apply == nil {
		t.Fatalf("plan: %v %v", c, err)
	}
	if err := os.WriteFile(src, []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = c.Apply(ctx)
	if err == nil || !strings.Contains(err.Error(), "changed since") {
		t.Errorf("apply after src changed: %v, want an error saying it changed", err)
	}
	if got, _ := os.ReadFile(dest); string(got) != "old\n" {
		t.Errorf("dest = %q, want it untouched", got)
	}
}
