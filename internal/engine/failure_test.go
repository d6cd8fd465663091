package engine_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{Name: "t_refuse", Doc: "test module", New: func() tasks.Task { return new(refuse) }})
}

// refuse finds a difference it will not fix (like a server with another
// plan, which metal does not replace) beside one it will.
type refuse struct{}

func (refuse) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	return &tasks.Change{
		Summary: []string{"+ create b"},
		Apply: func(context.Context) (tasks.Done, error) {
			log.add("apply " + h.Name)
			return tasks.Done{}, nil
		},
		Failure: errors.New("a has plan x, not y: runbook does not replace servers"),
	}, nil
}

// What Apply will refuse to do is a failure in check mode as in a real
// run, with the same message; the real run makes the rest of the change.
func TestRefusedDriftIsReportedAlikeInCheckAndApply(t *testing.T) {
	site := "steps:\n  - {name: servers, hosts: all, task: t_refuse}\n  - {name: after, hosts: all, task: t_record, with: {label: after}}\n"
	for _, check := range []bool{true, false} {
		sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, ""), opts: engine.Options{Check: check}})
		if err != nil {
			t.Fatal(err)
		}
		ev := c.find("servers", "h1")
		if ev.Status != engine.Failed || !strings.Contains(ev.Message, "runbook does not replace servers") || !slices.Equal(ev.Changes, []string{"+ create b"}) || !sum.Failed() {
			t.Errorf("check=%v: %s %q %q", check, ev.Status, ev.Message, ev.Changes)
		}
		if applied := slices.Contains(log.list(), "apply h1"); applied == check {
			t.Errorf("check=%v: applied=%v", check, applied)
		}
		if ev := c.find("after", "h1"); ev.Status != "" {
			t.Errorf("check=%v: a failed host went on: %+v", check, ev)
		}
	}
}
