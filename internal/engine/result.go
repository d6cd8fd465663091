package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
)

// control applies the step's changed_when and failed_when to one attempt's
// result on a host, as Ansible does: changed_when first, then failed_when,
// which sees .result.changed as changed_when decided and .result.failed as
// the module said. failed_when replaces the module's failure test, but only
// for a failure the module reported with a result (a command's exit code,
// drift it refuses): a failure without one (a lost connection, a template
// or parameter error, a timeout) stays a failure, and a skipped or
// unreachable host is left alone.
//
// In check mode a step that did not run has no output: a condition that
// reads what only applying gives leaves the step as Check said, unknown.
func (e *Engine) control(ctx context.Context, st *runbook.Step, hs *hostState, vars map[string]any, r result) result {
	if st.ChangedWhen == "" && st.FailedWhen == "" {
		return r
	}
	if r.status == Skipped || r.status == Unreachable || (r.status == Failed && !r.reported) {
		return r
	}
	failed := r.status == Failed
	changed := r.status == Changed || (failed && r.changed)
	reg := registered(&r)
	var unknown []string // what check mode cannot tell yet
	eval := func(expr string, pos decode.Pos) (v, known bool, bad *result) {
		v, err := tmpl.Cond(pos, expr, withRegistered(vars, st, reg))
		if err == nil {
			return v, true, nil
		}
		var u *tmpl.Undefined
		if r.notRun && errors.As(err, &u) && (u.Root() == "result" || u.Root() == st.Register) {
			unknown = append(unknown, fmt.Sprintf("unknown until applied: %s reads what only applying gives (%v)", expr, err))
			return false, false, nil
		}
		if u, ok := e.unknown(ctx, hs, err); ok {
			unknown = append(unknown, u.summary...)
			return false, false, nil
		}
		return false, false, &result{status: Failed, msg: err.Error(), data: r.data}
	}
	if st.ChangedWhen != "" {
		v, known, bad := eval(st.ChangedWhen, st.ChangedWhenPos)
		if bad != nil {
			return *bad
		}
		if known {
			changed = v
			reg["changed"] = v
		}
	}
	if st.FailedWhen != "" {
		v, known, bad := eval(st.FailedWhen, st.FailedWhenPos)
		if bad != nil {
			return *bad
		}
		if known && v {
			msg := "failed_when is true: " + st.FailedWhen
			if r.msg != "" {
				msg += "; " + r.msg
			}
			r.status, r.msg = Failed, msg
			return r
		}
		failed = failed && !known
	}
	switch {
	case failed:
		return r // the module's failure, which failed_when does not judge
	case len(unknown) > 0:
		r.status, r.msg, r.unknown = Changed, "", true
		r.summary = append(r.summary, unknown...)
	case changed:
		if r.status != Changed && len(r.summary) == 0 && st.ChangedWhen != "" {
			r.summary = []string{"changed_when is true: " + st.ChangedWhen}
		}
		r.status, r.msg = Changed, ""
	default:
		// Reported as no change: what Check found is not shown as one.
		r.status, r.msg, r.summary, r.diff = OK, "", nil, ""
	}
	return r
}

// withRegistered is the step's variables with reg as .result and under the
// step's register name, for its conditions on its result.
func withRegistered(vars map[string]any, st *runbook.Step, reg map[string]any) map[string]any {
	out := maps.Clone(vars)
	out["result"] = reg
	if st.Register != "" {
		out[st.Register] = reg
	}
	return out
}
