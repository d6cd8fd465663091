package cli_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// A step or import tagged never runs only when --tags asks for one of its
// tags (never included); always still runs whatever --tags asks.
func TestTagNever(t *testing.T) {
	env := tasktest.New(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "lib.yaml"), []byte(fmt.Sprintf("steps:\n  - {name: imported, hosts: h1, task: file, with: {path: %s/imported, content: x}, tags: [debug]}\n", env.Dir)), 0o644)
	rb := filepath.Join(dir, "site.yaml")
	os.WriteFile(rb, []byte(fmt.Sprintf(`
steps:
  - {name: plain, hosts: h1, task: file, with: {path: %[1]s/plain, content: x}}
  - {name: tagged, hosts: h1, task: file, with: {path: %[1]s/tagged, content: x}, tags: [app]}
  - {name: never, hosts: h1, task: file, with: {path: %[1]s/never, content: x}, tags: [never]}
  - {name: reset, hosts: h1, task: file, with: {path: %[1]s/reset, content: x}, tags: [never, reset]}
  - {name: always, hosts: h1, task: file, with: {path: %[1]s/always, content: x}, tags: [always]}
  - {import: lib.yaml, tags: [never]}
`, env.Dir)), 0o644)
	for _, c := range []struct {
		args []string
		ran  []string
	}{
		{nil, []string{"always", "plain", "tagged"}},
		{[]string{"--tags", "app"}, []string{"always", "tagged"}},
		{[]string{"--tags", "reset"}, []string{"always", "reset"}},
		{[]string{"--tags", "debug"}, []string{"always", "imported"}},
		{[]string{"--tags", "never"}, []string{"always", "imported", "never", "reset"}},
		{[]string{"--tags", "never", "--skip-tags", "reset"}, []string{"always", "imported", "never"}},
	} {
		r := env.ApplyFile(rb, append(c.args, "--check")...)
		if r.Exit != cli.ExitDrift {
			t.Errorf("%v: %s", c.args, r)
			continue
		}
		if diff := cmp.Diff(c.ran, slices.Sorted(maps.Keys(r.Statuses()))); diff != "" {
			t.Errorf("%v: steps that ran (-want +got):\n%s", c.args, diff)
		}
	}
}
