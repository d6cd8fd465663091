package copy_test

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/copy"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

func TestCopyTimeline(t *testing.T) {
	env := tasktest.New(t)
	src := filepath.Join(t.TempDir(), "app.bin")
	big := make([]byte, 8<<20)
	rand.Read(big)
	os.WriteFile(src, big, 0o644)
	dest := filepath.Join(env.Dir, "app.bin")
	inline := filepath.Join(env.Dir, "inline.txt")
	rb := fmt.Sprintf(`
steps:
  - {name: bin, hosts: h1, task: copy, with: {src: %s, dest: %s, mode: "0755"}}
  - {name: inline, hosts: h1, task: copy, with: {content: "hello\n", dest: %s}}
`, src, dest, inline)
	before := tasktest.Snapshot(t, env.Dir)
	if r := env.Apply(rb, "--check", "--diff"); r.Exit != tasktest.ExitDrift || !strings.Contains(r.Result("inline").Diff, "+hello") {
		t.Fatalf("first check: %s", r)
	}
	if tasktest.Snapshot(t, env.Dir) != before {
		t.Fatal("check mode changed the host")
	}
	if r := env.Apply(rb); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, big) {
		t.Fatal("copied content differs")
	}
	if r := env.Apply(rb, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}
	// Drift: one byte of the binary.
	f, _ := os.OpenFile(dest, os.O_WRONLY, 0)
	f.WriteAt([]byte{big[100] ^ 0xff}, 100)
	f.Close()
	r := env.Apply(rb, "--check", "--diff")
	ev := r.Result("bin")
	if r.Exit != tasktest.ExitDrift || ev.Status != engine.Changed || r.Result("inline").Status != engine.OK {
		t.Fatalf("drift: %s", r)
	}
	if !strings.Contains(ev.Diff, "too large to show: 8388608 -> 8388608 bytes") {
		t.Errorf("a large file diff should say so, got %q", ev.Diff)
	}
	if r = env.Apply(rb); r.Exit != 0 {
		t.Fatalf("repair: %s", r)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, big) {
		t.Fatal("repaired content differs")
	}
}

func TestCopyNeedsSrcOrContent(t *testing.T) {
	env := tasktest.New(t)
	r := env.Apply("steps:\n  - {name: c, hosts: h1, task: copy, with: {dest: /tmp/x}}\n")
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, "give either src or content") {
		t.Fatalf("%s", r)
	}
}
