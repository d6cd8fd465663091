package engine

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
)

// runStep runs one step on its hosts, batch after batch. only, when set,
// names the hosts a handler was notified on.
func (e *Engine) runStep(ctx context.Context, st *runbook.Step, sc scope, only map[string]bool, notified map[string]map[string]bool) error {
	hosts, err := e.stepHosts(st, sc, only)
	if err != nil {
		return err
	}
	e.emit(Event{Type: StepStart, Step: st.Title(), Task: st.Module.Name, Pos: st.Pos.String(), Handler: only != nil, Hosts: len(hosts), Check: e.opts.Check, Item: sc.label})
	if len(hosts) == 0 {
		return nil
	}
	controllerChanged := false
	for _, batch := range batches(hosts, st.Serial) {
		results := e.runBatch(ctx, st, sc, batch)
		failed := 0
		for i, r := range results {
			h := batch[i]
			sc.watch.saw(st, h.Name, r)
			if r.status == Changed {
				for _, name := range st.Notify {
					if notified[name] == nil {
						notified[name] = map[string]bool{}
					}
					notified[name][h.Name] = true
				}
				controllerChanged = controllerChanged || h.Local() || r.viaLocal
			}
			if (r.status == Failed && !r.ignored) || r.status == Unreachable {
				failed++
			}
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if failed > 0 && (sc.fatal || st.AnyErrorsFatal) {
			return &AbortError{Pos: st.Pos, Msg: fmt.Sprintf("step %q: %d of %d hosts failed and any_errors_fatal is set: stopping the run", st.Title(), failed, len(batch))}
		}
		if st.MaxFail != nil {
			pct := 100 * float64(failed) / float64(len(batch))
			if pct > *st.MaxFail {
				return &AbortError{Pos: st.Pos, Msg: fmt.Sprintf("step %q: %d of %d hosts failed (%.0f%%), more than max_fail_percentage %g: stopping the run", st.Title(), failed, len(batch), pct, *st.MaxFail)}
			}
		}
	}
	if controllerChanged && e.opts.Check {
		e.mayGrow = true
	}
	if controllerChanged && !e.opts.Check {
		// A step on the controller may have created or removed hosts.
		return e.reload(ctx)
	}
	return nil
}

// stepHosts resolves the step's host patterns, narrowed by --limit, less
// the hosts that failed or could not be reached earlier in the run. A term
// that matches nothing stops the run: Preflight has found those of the
// steps before the first on the controller, and this finds them in later
// steps, against the inventory as it is now.
func (e *Engine) stepHosts(st *runbook.Step, sc scope, only map[string]bool) ([]*inventory.Host, error) {
	inv := e.inventory()
	var hosts []*inventory.Host
	if only != nil {
		for _, h := range inv.Hosts() {
			if only[h.Name] {
				hosts = append(hosts, h)
			}
		}
		if only[inventory.LocalHost.Name] {
			if _, defined := inv.Host(inventory.LocalHost.Name); !defined {
				hosts = append(hosts, inventory.LocalHost)
			}
		}
	} else {
		patterns, err := renderPatterns(st, sc.layers, e.opts.ExtraVars, e.taint)
		if err != nil {
			return nil, err
		}
		var unmatched []inventory.Unmatched
		hosts, unmatched, err = inv.Match(patterns)
		if err != nil {
			return nil, decode.Errorf(st.HostsPos, "hosts: %w", err)
		}
		for _, u := range unmatched {
			if !e.mayGrow {
				return nil, decode.Errorf(hostsAt(st, u.Index), "hosts: %s", u)
			}
			e.emit(Event{Type: Warning, Step: st.Title(), Pos: hostsAt(st, u.Index).String(),
				Message: "hosts: " + u.String() + " (an earlier step on the controller would have changed something: it may exist once applied)"})
		}
		hosts = limitHosts(inv, e.opts.Limit, hosts)
	}
	return slices.DeleteFunc(hosts, func(h *inventory.Host) bool {
		if sc.limit != nil && !sc.limit[h.Name] {
			return true
		}
		s := e.state(h.Name)
		return s.failed || s.down
	}), nil
}

// limitHosts narrows hosts to those --limit selects.
func limitHosts(inv *inventory.Inventory, limit []string, hosts []*inventory.Host) []*inventory.Host {
	if len(limit) == 0 {
		return hosts
	}
	limited, _, _ := inv.Match(limit)
	return slices.DeleteFunc(slices.Clone(hosts), func(h *inventory.Host) bool {
		return !slices.ContainsFunc(limited, func(l *inventory.Host) bool { return l.Name == h.Name })
	})
}

// renderPatterns renders the step's hosts with the runbook's variables and
// -e, since no single host's variables apply yet: only the variables the
// patterns read are resolved, as others may read the host.
func renderPatterns(st *runbook.Step, layers []map[string]tmpl.Var, extra map[string]tmpl.Var, taint *tmpl.Taint) ([]string, error) {
	if !slices.ContainsFunc(st.Hosts, decode.HasTemplate) {
		return st.Hosts, nil
	}
	merged := mergeLayers(append(slices.Clone(layers), extra))
	var names []string
	for _, p := range st.Hosts {
		names = append(names, tmpl.Names(p)...)
	}
	needed := map[string]tmpl.Var{}
	for _, name := range neededVars(names, merged) {
		if v, ok := merged[name]; ok {
			needed[name] = v
		}
	}
	base := map[string]any{}
	if taint != nil {
		taint.Track(base)
	}
	vars, err := tmpl.Resolve(needed, base)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(st.Hosts))
	for i, p := range st.Hosts {
		if out[i], err = tmpl.Render(hostsAt(st, i), p, vars); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// batches splits hosts per `serial:`; the last size given repeats, as in
// Ansible. No serial means one batch of every host.
func batches(hosts []*inventory.Host, serial []runbook.Batch) [][]*inventory.Host {
	if len(serial) == 0 {
		return [][]*inventory.Host{hosts}
	}
	var out [][]*inventory.Host
	for i, rest := 0, hosts; len(rest) > 0; i++ {
		b := serial[min(i, len(serial)-1)]
		n := min(b.Size(len(hosts)), len(rest))
		out = append(out, rest[:n])
		rest = rest[n:]
	}
	return out
}

// throttle is how many hosts may run st at once: the least of its own
// throttle and its groups'; 0 for no limit but --forks.
func throttle(sc scope, st *runbook.Step) int {
	switch {
	case st.Throttle > 0 && sc.throttle > 0:
		return min(st.Throttle, sc.throttle)
	case st.Throttle > 0:
		return st.Throttle
	}
	return sc.throttle
}

// parallel runs fn on every host, at most --forks at a time, and returns
// the results in the order of hosts.
func (e *Engine) parallel(ctx context.Context, hosts []*inventory.Host, limit int, fn func(context.Context, *inventory.Host) result) []result {
	out := make([]result, len(hosts))
	sem := make(chan struct{}, min(e.opts.Forks, cmp.Or(limit, e.opts.Forks)))
	var wg sync.WaitGroup
	for i, h := range hosts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for j := i; j < len(hosts); j++ {
				out[j] = result{status: Skipped}
			}
			wg.Wait()
			return out
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i] = fn(ctx, h)
		}()
	}
	wg.Wait()
	return out
}
