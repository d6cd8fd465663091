package hostfile

import (
	"context"
	"slices"

	"github.com/runbookdev/runbook/tasks"
)

// Edit is the change for a module that computes a text file's new content
// from its old (line, blockinfile). plan reads the file at p (Read), edits
// a copy in memory and plans writing it back (PlanAt). Check calls it once;
// applying calls it again holding the host's lock on p, so that another
// run editing p meanwhile does not lose its edit, nor this run its own.
func Edit(ctx context.Context, h *tasks.Host, p string, plan func(ctx context.Context, h *tasks.Host) (*tasks.Change, error)) (*tasks.Change, error) {
	c, err := plan(ctx, h)
	if err != nil || c.Apply == nil {
		return c, err
	}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		unlock, err := Lock(ctx, h, p)
		if err != nil {
			return tasks.Done{}, err
		}
		defer unlock()
		locked := *h
		locked.Diff = false // shown already
		now, err := plan(ctx, &locked)
		if err != nil {
			return tasks.Done{}, err
		}
		if now.Apply == nil {
			return tasks.Done{Summary: append(slices.Clone(c.Summary), "(made meanwhile by another run)")}, nil
		}
		return now.Apply(ctx)
	}
	return c, nil
}
