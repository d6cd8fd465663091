package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/inventory"
)

// Where a step runs, when not simply on each of its hosts: run_once runs
// it on the first host of the batch for all of them, delegate_to runs its
// module against another host (or the controller) on behalf of each.

// runBatch runs st on a batch of hosts in parallel or, with run_once, on
// the first of them only, its result given to the others: registered on
// each, and reported for each.
func (e *Engine) runBatch(ctx context.Context, st *runbook.Step, sc scope, batch []*inventory.Host) []result {
	if !st.RunOnce || len(batch) == 0 {
		return e.parallel(ctx, batch, throttle(sc, st), func(ctx context.Context, h *inventory.Host) result {
			return e.runLoop(ctx, st, sc, h)
		})
	}
	first := batch[0]
	out := make([]result, len(batch))
	out[0] = e.runLoop(ctx, st, sc, first)
	for i, h := range batch[1:] {
		r := givenBy(out[0], first.Name)
		e.record(st, h, e.state(h.Name), &r, 0)
		out[i+1] = r
	}
	return out
}

// givenBy is the result of a run_once step on a host that did not run it
// itself. Its diff was shown with the host that ran it; that host being
// unreachable makes the step fail here, not this host unreachable.
func givenBy(r result, ran string) result {
	c := r
	c.once, c.diff = ran, ""
	if c.status == Unreachable {
		c.status, c.msg = Failed, fmt.Sprintf("run_once: the step runs on %s, which could not be reached: %s", ran, r.msg)
	}
	return c
}

// delegate resolves the step's delegate_to for h, rendered with h's
// variables, and connects to that host: an inventory host, or local for
// the controller (unless the inventory has a host of that name).
func (e *Engine) delegate(ctx context.Context, st *runbook.Step, h *inventory.Host, hs *hostState, vars map[string]any) (transport.Conn, *inventory.Host, *result) {
	name, err := tmpl.Render(st.DelegatePos, st.DelegateTo, vars)
	if err != nil {
		r := e.templateFailure(ctx, hs, err)
		return nil, nil, &r
	}
	d, err := delegateHost(e.inventory(), strings.TrimSpace(name))
	if err != nil {
		return nil, nil, &result{status: Failed, msg: decode.Errorf(st.DelegatePos, "%v", err).Error()}
	}
	conn, err := e.pool.Get(ctx, target(d))
	if err != nil {
		return nil, nil, &result{status: Failed, via: d.Name, viaLocal: d.Local(), msg: fmt.Sprintf("delegate_to %s: %s", d.Name, ctxMessage(ctx, err))}
	}
	return conn, d, nil
}

// delegateHost finds the host delegate_to names.
func delegateHost(inv *inventory.Inventory, name string) (*inventory.Host, error) {
	if d, ok := inv.Host(name); ok {
		return d, nil
	}
	if name == inventory.LocalHost.Name {
		return inventory.LocalHost, nil
	}
	var known []string
	for _, h := range inv.Hosts() {
		known = append(known, h.Name)
	}
	return nil, fmt.Errorf("delegate_to: no host %s in the inventory%s: name an inventory host, or local for the controller", decode.Quote(name), decode.Suggest(name, known))
}

// delegated marks a result as the delegate's doing. The delegate being
// unreachable fails the step on the host, which itself may well be up.
func delegated(r result, d *inventory.Host) result {
	r.via, r.viaLocal = d.Name, d.Local()
	if r.status == Unreachable {
		r.status, r.msg = Failed, fmt.Sprintf("delegate_to %s: %s", d.Name, r.msg)
	}
	return r
}

// ownFacts gathers the host's facts for a module (a template file reads
// .facts), through the host's own connection even when the step's module
// runs against a delegate: templates see the delegating host, as they see
// its variables.
func (e *Engine) ownFacts(ctx context.Context, st *runbook.Step, h *inventory.Host, hs *hostState, conn transport.Conn) (map[string]any, error) {
	if st.DelegateTo != "" {
		c, failed := e.connect(ctx, h)
		if failed != nil {
			return nil, fmt.Errorf("facts of %s: %s", h.Name, failed.msg)
		}
		conn = c
	}
	return e.facts(ctx, h, hs, conn)
}
