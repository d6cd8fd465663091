package engine

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
)

// blockRun follows the hosts of one run of a block's steps: which entered
// it, and which failed in it and how.
type blockRun struct {
	mu      sync.Mutex
	entered map[string]bool
	failed  map[string]map[string]any // host -> {step, message}
	parent  *blockRun                 // an enclosing block's run sees it all too
}

func newBlockRun(parent *blockRun) *blockRun {
	return &blockRun{entered: map[string]bool{}, failed: map[string]map[string]any{}, parent: parent}
}

// saw records a step's result on a host.
func (b *blockRun) saw(st *runbook.Step, host string, r result) {
	for ; b != nil; b = b.parent {
		b.mu.Lock()
		b.entered[host] = true
		if r.status == Failed && !r.ignored {
			if _, first := b.failed[host]; !first {
				b.failed[host] = map[string]any{"step": st.Title(), "message": r.msg}
			}
		}
		b.mu.Unlock()
	}
}

// childBlock is the scope of a block's steps: its variables over the
// enclosing ones, its tags and condition added.
func (s scope) childBlock(st *runbook.Step) scope {
	c := s
	c.layers = append(slices.Clone(s.layers), st.BlockVars)
	c.tags = append(slices.Clone(s.tags), st.Tags...)
	c.whens = slices.Clone(s.whens)
	if st.When != "" {
		c.whens = append(c.whens, cond{st.When, st.WhenPos})
	}
	return c
}

// runBlock runs a block: its steps; on the hosts that failed in them, its
// rescue steps; then, on every host that entered it, its always steps.
// A host that a rescue saw through counts as rescued, not failed, and
// goes on with the steps after the block.
func (e *Engine) runBlock(ctx context.Context, st *runbook.Step, sc scope, notified map[string]map[string]bool, handlers []*runbook.Step) error {
	return e.runGroup(ctx, st, sc, notified, handlers, func(ctx context.Context, sc scope, notified map[string]map[string]bool) error {
		sc = sc.childBlock(st)
		run := newBlockRun(sc.watch)
		inner := sc
		inner.watch = run
		err := e.runSteps(ctx, st.Block, inner, notified, handlers)
		if err != nil {
			return err
		}
		if len(st.Rescue) > 0 && len(run.failed) > 0 {
			rescuing := e.revive(run.failed, true)
			rescue := inner
			rescue.limit, rescue.rescue = intersect(sc.limit, rescuing), true
			err = e.runSteps(ctx, st.Rescue, rescue, notified, handlers)
			e.mu.Lock()
			for name := range rescuing {
				hs := e.hosts[name]
				hs.failure = nil
				if !hs.failed && !hs.down {
					hs.stats.Rescued++
				}
			}
			e.mu.Unlock()
			if err != nil {
				return err
			}
		}
		if len(st.Always) > 0 {
			// Every host that entered the block, failed or not; those that
			// failed stay failed once the always steps are done.
			failed := e.revive(run.failed, false)
			always := inner
			always.limit = intersect(sc.limit, run.entered)
			err = e.runSteps(ctx, st.Always, always, notified, handlers)
			e.mu.Lock()
			for name := range failed {
				e.hosts[name].failed = true
			}
			e.mu.Unlock()
		}
		return err
	})
}

// revive lets the hosts that failed in a block (and are still reachable)
// run the block's rescue or always steps, and returns them. A rescue
// takes back the failure from the host's count: whether it fails again
// is the rescue's to say; the failure is given to the rescue steps as
// .failure.
func (e *Engine) revive(failed map[string]map[string]any, rescue bool) map[string]bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]bool{}
	for name, why := range failed {
		hs := e.hosts[name]
		if hs == nil || hs.down || !hs.failed {
			continue
		}
		hs.failed = false
		if rescue {
			hs.stats.Failed--
			hs.failure = why
		}
		out[name] = true
	}
	return out
}

func intersect(limit, set map[string]bool) map[string]bool {
	if limit == nil {
		return maps.Clone(set)
	}
	out := map[string]bool{}
	for name := range set {
		if limit[name] {
			out[name] = true
		}
	}
	return out
}

// runGroup runs body for a block or an import: once over the group's
// hosts or, with serial, once per batch of them, each batch's notified
// handlers run at its end.
func (e *Engine) runGroup(ctx context.Context, st *runbook.Step, sc scope, notified map[string]map[string]bool, handlers []*runbook.Step, body func(context.Context, scope, map[string]map[string]bool) error) error {
	g := st.Group
	if g == nil {
		return body(ctx, sc, notified)
	}
	if g.Throttle > 0 {
		sc.throttle = min(cmp.Or(sc.throttle, g.Throttle), g.Throttle)
	}
	sc.fatal = sc.fatal || g.AnyErrorsFatal
	if len(g.Hosts) == 0 {
		return body(ctx, sc, notified)
	}
	hosts, err := e.groupHosts(st, sc)
	if err != nil {
		return err
	}
	if len(g.Serial) == 0 {
		sc.limit = names(hosts)
		return body(ctx, sc, notified)
	}
	if hosts, err = e.order(ctx, st, sc, hosts); err != nil {
		return err
	}
	for i, batch := range batches(hosts, g.Serial) {
		if err := ctx.Err(); err != nil {
			return err
		}
		e.emit(Event{Type: BatchStart, Step: st.Title(), Pos: st.Pos.String(), Batch: i + 1, Hosts: len(batch), Message: strings.Join(hostNames(batch), ", "), Check: e.opts.Check})
		bsc := sc
		bsc.limit = names(batch)
		own := map[string]map[string]bool{}
		err := body(ctx, bsc, own)
		if err == nil {
			// The batch's handlers run now, on the batch's hosts.
			err = e.runHandlers(ctx, handlers, sc, own)
		}
		if err != nil {
			return err
		}
		if g.MaxFail != nil {
			failed := 0
			e.mu.Lock()
			for _, h := range batch {
				if hs := e.hosts[h.Name]; hs != nil && (hs.failed || hs.down) {
					failed++
				}
			}
			e.mu.Unlock()
			if pct := 100 * float64(failed) / float64(len(batch)); pct > *g.MaxFail {
				return &AbortError{Pos: st.Pos, Msg: fmt.Sprintf("%s %q: %d of %d hosts of batch %d failed (%.0f%%), more than max_fail_percentage %g: stopping the run",
					groupKind(st), st.Title(), failed, len(batch), i+1, pct, *g.MaxFail)}
			}
		}
	}
	return nil
}

func groupKind(st *runbook.Step) string {
	if st.Import != nil {
		return "import"
	}
	return "block"
}

// groupHosts resolves a group's hosts as a step's are resolved.
func (e *Engine) groupHosts(st *runbook.Step, sc scope) ([]*inventory.Host, error) {
	g := st.Group
	pseudo := &runbook.Step{Name: st.Title(), Pos: st.Pos, Hosts: g.Hosts, HostsPos: g.HostsPos, HostsAt: g.HostsAt, In: st.In}
	return e.stepHosts(pseudo, sc, nil)
}

func names(hosts []*inventory.Host) map[string]bool {
	out := make(map[string]bool, len(hosts))
	for _, h := range hosts {
		out[h.Name] = true
	}
	return out
}

func hostNames(hosts []*inventory.Host) []string {
	out := make([]string, len(hosts))
	for i, h := range hosts {
		out[i] = h.Name
	}
	return out
}

// order puts a group's hosts in the order its batches take them.
func (e *Engine) order(ctx context.Context, st *runbook.Step, sc scope, hosts []*inventory.Host) ([]*inventory.Host, error) {
	g := st.Group
	hosts = slices.Clone(hosts)
	switch g.Order {
	case "", "inventory":
	case "reverse_inventory":
		slices.Reverse(hosts)
	case "sorted":
		slices.SortStableFunc(hosts, func(a, b *inventory.Host) int { return cmp.Compare(a.Name, b.Name) })
	case "reverse_sorted":
		slices.SortStableFunc(hosts, func(a, b *inventory.Host) int { return cmp.Compare(b.Name, a.Name) })
	case "shuffle":
		rand.Shuffle(len(hosts), func(i, j int) { hosts[i], hosts[j] = hosts[j], hosts[i] })
	default:
		keys := map[string]string{}
		for _, h := range hosts {
			k, err := e.orderKey(ctx, st, sc, h)
			if err != nil {
				return nil, err
			}
			keys[h.Name] = k
		}
		slices.SortStableFunc(hosts, func(a, b *inventory.Host) int { return cmp.Compare(keys[a.Name], keys[b.Name]) })
	}
	return hosts, nil
}

// orderKey renders the group's order template with h's variables. A host
// whose key cannot be rendered stops the run: batching it at a guess
// could restart a cluster's leader first.
func (e *Engine) orderKey(ctx context.Context, st *runbook.Step, sc scope, h *inventory.Host) (string, error) {
	g := st.Group
	hs := e.state(h.Name)
	if mentionsFacts(g.Order) {
		conn, failed := e.connect(ctx, h)
		if failed != nil {
			return "", &AbortError{Pos: g.OrderPos, Msg: fmt.Sprintf("order: %s: %s", h.Name, failed.msg)}
		}
		if _, err := e.facts(ctx, h, hs, conn); err != nil {
			return "", &AbortError{Pos: g.OrderPos, Msg: fmt.Sprintf("order: %s: %v", h.Name, err)}
		}
	}
	vars, _, err := e.vars(sc, h, hs)
	if err == nil {
		var key string
		if key, err = tmpl.Render(g.OrderPos, g.Order, vars); err == nil {
			return key, nil
		}
	}
	if e.opts.Check {
		e.mu.Lock()
		missing := e.missing(hs, err)
		e.mu.Unlock()
		if len(missing) > 0 {
			// What the key reads comes from steps that did not run in
			// check mode: their steps are unknown too, and no host is
			// restarted, so the batches may go in name order.
			return h.Name, nil
		}
	}
	return "", decode.Errorf(g.OrderPos, "order: for %s: %v", h.Name, err)
}
