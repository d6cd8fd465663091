package engine_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/engine"
)

// A guard that fails (a run lock was lost) stops the run before the next
// step or handler, not in the middle of one.
func TestGuardStopsTheRunBeforeTheNextStep(t *testing.T) {
	calls := 0
	lost := errors.New("lost the run lock")
	sum, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
steps:
  - {name: one, hosts: all, task: t_record, with: {label: one}}
  - {name: two, hosts: all, task: t_record, with: {label: two}}
`},
		inv: localInventory(2, ""),
		opts: engine.Options{Guard: func() error {
			calls++
			if calls > 1 {
				return lost
			}
			return nil
		}},
	})
	if !errors.Is(err, lost) || !strings.Contains(err.Error(), `before step "two"`) {
		t.Fatalf("Run = %v, want the guard's error before step two", err)
	}
	if d := cmp.Diff([]string{"one h1 ok", "one h2 ok"}, sortedWithinSteps(c.results())); d != "" {
		t.Errorf("results (-want +got):\n%s", d)
	}
	if sum == nil {
		t.Fatal("no summary")
	}
	recap := c.events[len(c.events)-1]
	if recap.Type != engine.Recap || !strings.Contains(recap.Message, "lost the run lock") {
		t.Errorf("recap: %+v", recap)
	}
}
