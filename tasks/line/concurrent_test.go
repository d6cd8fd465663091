package line_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/runbookdev/runbook/tasks/tasktest"
)

// Two operators apply runbooks that add different lines to one file at the
// same time: each run's read-modify-write holds the host's lock on the
// file, so neither writes back a copy that misses the other's lines.
func TestLineConcurrentRunsKeepEveryLine(t *testing.T) {
	env := tasktest.New(t)
	const perRun = 30
	for round := range 10 {
		conf := filepath.Join(env.Dir, fmt.Sprintf("shared-%d.conf", round))
		if err := os.WriteFile(conf, []byte("# shared\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var files [2]string
		for run := range files {
			var b strings.Builder
			b.WriteString("steps:\n")
			for i := range perRun {
				fmt.Fprintf(&b, "  - {name: l%d, hosts: h1, task: line, with: {path: %s, line: \"run%d line%d\"}}\n", i, conf, run, i)
			}
			files[run] = filepath.Join(t.TempDir(), "runbook.yaml")
			if err := os.WriteFile(files[run], []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		var runs [2]tasktest.Run
		for i := range files {
			wg.Go(func() { runs[i] = env.ApplyFile(files[i]) })
		}
		wg.Wait()
		for i, r := range runs {
			if r.Exit != 0 {
				t.Fatalf("round %d, run %d: %s", round, i, r)
			}
		}
		data, err := os.ReadFile(conf)
		if err != nil {
			t.Fatal(err)
		}
		var missing []string
		for run := range 2 {
			for i := range perRun {
				if l := fmt.Sprintf("run%d line%d", run, i); !strings.Contains(string(data), l+"\n") {
					missing = append(missing, l)
				}
			}
		}
		if len(missing) > 0 {
			t.Fatalf("round %d: %d of %d lines lost: %v", round, len(missing), 2*perRun, missing)
		}
	}
}
