package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/tasks"
	"gopkg.in/yaml.v3"
)

// unknown is what err means in check mode when it comes from what earlier
// steps only pretended to do, and whether it does:
//
//   - a template read a value that a step registered without running (check
//     mode does not apply it, so its output is missing): see missing;
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
	e.mu.Lock()
	missing := e.missing(hs, err)
	pending := hs.pending
	e.mu.Unlock()
	switch {
	case len(missing) > 0:
		return unknownResult(fmt.Sprintf("unknown until applied: %s come from steps that did not run in check mode (%v)", strings.Join(missing, ", "), err)), true
	case pending && errors.Is(err, tasks.ErrDependsOnEarlier):
		return unknownResult("unknown until earlier steps are applied: " + err.Error()), true
	}
	return result{}, false
}

// missing names the values registered without running (on hs's host, or
// on others through .hostvars) that err, a template's, may come from:
//
//   - it read a key of one, by name (.out.stdout, .hostvars.h1.tok.stdout):
//     that one; a key of any other variable is a mistake;
//   - it read in a way that does not say from where (inside {{ with }}, or
//     through index): any there is.
//
// e.mu is held.
func (e *Engine) missing(hs *hostState, err error) []string {
	var u *tmpl.Undefined
	if !errors.As(err, &u) {
		return nil
	}
	keys := u.Keys()
	switch {
	case len(keys) > 1 && keys[0] == "hostvars" && keys[1] != u.Key:
		if len(keys) > 2 && keys[2] != u.Key && e.hosts[keys[1]] != nil && e.hosts[keys[1]].incomplete[keys[2]] {
			return []string{".hostvars." + keys[1] + "." + keys[2]}
		}
		return nil
	case len(keys) > 1 && keys[0] != u.Key:
		if hs.incomplete[keys[0]] {
			return []string{"." + keys[0]}
		}
		return nil
	}
	var all []string
	for name := range hs.incomplete {
		all = append(all, "."+name)
	}
	slices.Sort(all)
	return append(all, e.othersIncomplete(hs)...)
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

// pendingIn returns the placeholder of a secret not made yet (check mode)
// that the step's rendered parameters hold, or "": a module cannot judge
// such a value (a token that must be a UUID), and the step would change
// once a real run makes the secret.
func (e *Engine) pendingIn(node *yaml.Node) string {
	if !e.opts.Check || node == nil {
		return ""
	}
	if node.Kind == yaml.ScalarNode {
		return e.taint.PendingIn(node.Value)
	}
	for _, c := range node.Content {
		if p := e.pendingIn(c); p != "" {
			return p
		}
	}
	return ""
}

func unknownResult(why string) result {
	return result{status: Changed, notRun: true, unknown: true, summary: []string{why}}
}
