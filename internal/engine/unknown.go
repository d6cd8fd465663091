package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/tasks"
)

// unknown is what err means in check mode when it comes from what earlier
// steps only pretended to do, and whether it does:
//
//   - a template read a value that a step registered without running (check
//     mode does not apply it, so its output is missing);
//   - a module's Check said, with tasks.DependsOnEarlier, that the host is
//     not yet as an earlier step would make it, and an earlier step would
//     have changed this host.
//
// Such a step is unknown until those steps are applied: reported as would
// change, never as a failure. Every other error is the failure it says, in
// check mode as in a real run.
func (e *Engine) unknown(ctx context.Context, hs *hostState, err error) (result, bool) {
	if !e.opts.Check || ctx.Err() != nil {
		return result{}, false
	}
	var u *tmpl.Undefined
	e.mu.Lock()
	missing := errors.As(err, &u) && hs.incomplete[u.Root()]
	pending := hs.pending
	e.mu.Unlock()
	switch {
	case missing:
		return unknownResult(fmt.Sprintf("unknown until applied: .%s come from steps that did not run in check mode (%v)", u.Root(), err)), true
	case pending && errors.Is(err, tasks.ErrDependsOnEarlier):
		return unknownResult("unknown until earlier steps are applied: " + err.Error()), true
	}
	return result{}, false
}

// outputOnly reports an unknown step of a module that only prints (debug)
// as ok, saying why: applying it would change nothing either.
func outputOnly(st *runbook.Step, r result) result {
	if _, ok := st.Module.New().(tasks.OutputOnly); !ok || !r.unknown || r.status != Changed {
		return r
	}
	r.status, r.msg, r.summary = OK, strings.Join(r.summary, "\n"), nil
	return r
}

func unknownResult(why string) result {
	return result{status: Changed, notRun: true, unknown: true, summary: []string{why}}
}
