package engine

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/runbookdev/runbook/inventory"
)

// liveVars is .hostvars as the run goes: each host's inventory entry (see
// hostVarsOf) with what the host has registered so far and its facts once
// gathered. Templates on many hosts read it while steps record into it,
// so nothing in it is changed in place: a host's entry, and the map of
// entries, are replaced whole.
type liveVars struct {
	mu         sync.Mutex
	inv        *inventory.Inventory // what view was built from
	base       map[string]any       // hostVarsOf(inv)
	view       map[string]any       // nil: to build
	registered map[string]map[string]any
	facts      map[string]map[string]any
}

// liveHostVars is what templates see as .hostvars.
func (e *Engine) liveHostVars(inv *inventory.Inventory) map[string]any {
	return e.live.get(inv, e.hostVars(inv))
}

func (l *liveVars) get(inv *inventory.Inventory, base map[string]any) map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.view == nil || l.inv != inv {
		l.inv, l.base = inv, base
		l.view = maps.Clone(base)
		for _, name := range l.hosts() {
			l.view[name] = l.entry(name)
		}
	}
	return l.view
}

// set records that host registered v as name.
func (l *liveVars) set(host, name string, v any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.registered == nil {
		l.registered = map[string]map[string]any{}
	}
	regs := maps.Clone(l.registered[host])
	if regs == nil {
		regs = map[string]any{}
	}
	regs[name] = v
	l.registered[host] = regs
	l.update(host)
}

// setFacts records the facts gathered on host.
func (l *liveVars) setFacts(host string, f map[string]any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.facts == nil {
		l.facts = map[string]map[string]any{}
	}
	l.facts[host] = f
	l.update(host)
}

// update replaces host's entry in a view already handed out.
func (l *liveVars) update(host string) {
	if l.view == nil {
		return
	}
	view := maps.Clone(l.view)
	view[host] = l.entry(host)
	l.view = view
}

// entry is host's inventory entry, then what it registered (which wins,
// as it does in the host's own templates), then its facts.
func (l *liveVars) entry(host string) map[string]any {
	m := map[string]any{}
	if inv, ok := l.base[host].(map[string]any); ok {
		maps.Copy(m, inv)
	}
	maps.Copy(m, l.registered[host])
	if f := l.facts[host]; f != nil {
		m["facts"] = f
	}
	return m
}

func (l *liveVars) hosts() []string {
	names := slices.Collect(maps.Keys(l.registered))
	for name := range l.facts {
		if _, ok := l.registered[name]; !ok {
			names = append(names, name)
		}
	}
	return names
}

// othersIncomplete names, as .hostvars paths, the values other hosts
// registered that lack what a real run would have put in them: in check
// mode, a template reading them may work once applied. e.mu is held.
func (e *Engine) othersIncomplete(own *hostState) []string {
	hosts := map[string][]string{} // registered name -> hosts
	for name, hs := range e.hosts {
		if hs == own {
			continue
		}
		for reg := range hs.incomplete {
			hosts[reg] = append(hosts[reg], name)
		}
	}
	var out []string
	for _, reg := range slices.Sorted(maps.Keys(hosts)) {
		names := hosts[reg]
		slices.Sort(names)
		if len(names) == 1 {
			out = append(out, fmt.Sprintf(".hostvars.%s.%s", names[0], reg))
			continue
		}
		out = append(out, fmt.Sprintf(".hostvars.(%s).%s", someOf(names), reg))
	}
	return out
}
