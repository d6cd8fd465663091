package copy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/tasks/tasktest"

	_ "github.com/runbookdev/runbook/tasks/file" // makes the directory root's
)

// A file under a directory another user owns is refused in check mode
// too: check mode said "would change" of a write that applying refused.
// When an earlier step of the run would make the directory root's, the
// check cannot know yet (unknown), and the run writes the file.
func TestCheckModeRefusesAWayAnotherUserCanChange(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	env := tasktest.New(t)
	home := filepath.Join(hostile.Dir(t), "home")
	conf := filepath.Join(home, "conf")
	if err := os.MkdirAll(conf, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, home)
	write := fmt.Sprintf("  - {name: app, hosts: h1, task: copy, with: {content: x, dest: %s/app.yaml}}\n", conf)

	r := env.Apply("steps:\n"+write, "--check")
	if res := r.Result("app"); r.Exit != 1 || res.Status != engine.Failed || !strings.Contains(res.Message, home+" is not safe to write through") {
		t.Fatalf("check of a write through the user's directory: %s", r)
	}

	rb := fmt.Sprintf("steps:\n  - {name: home, hosts: h1, task: file, with: {path: %s, state: directory, owner: root}}\n", home) + write
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitDrift || !r.Result("app").Unknown {
		t.Fatalf("check with the directory made root's first: %s", r)
	}
	if r = env.Apply(rb); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	if data, err := os.ReadFile(filepath.Join(conf, "app.yaml")); err != nil || string(data) != "x" {
		t.Fatalf("after apply: %q %v", data, err)
	}
}
