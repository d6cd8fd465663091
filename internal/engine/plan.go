package engine

import (
	"fmt"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/inventory"
)

// Planned is a step as a run would reach it, for --list-hosts and
// --list-tasks: in run order, imports and blocks expanded, each runbook's
// handlers after its steps.
type Planned struct {
	Step    *runbook.Step
	Within  []Enclosing // the imports and blocks it is reached through, outermost first
	Handler bool
	Tags    []string // its own, after those of its imports and blocks
	// Patterns are the step's hosts: rendered (none for a handler).
	Patterns []string
	// Hosts it runs on, when Known: narrowed to its groups' hosts; for a
	// handler or a rescue step, those it may run on. A step after one on
	// the controller is matched when the run reaches it, as that step may
	// change the inventory: After names it.
	Hosts []*inventory.Host
	Known bool
	After *runbook.Step

	imports []*runbook.Step
}

// Enclosing is an import or a block a step is reached through.
type Enclosing struct {
	Step *runbook.Step
	// Part is "import", or for a block the list the step is in: "block",
	// "rescue" or "always".
	Part string
	// GroupHosts are the group's hosts (its hosts: matched), when it has
	// hosts: and they are known before the run.
	GroupHosts []*inventory.Host

	key string
}

// planner is what Check records for Plan.
type planner struct {
	steps  []Planned
	groups map[string][]*inventory.Host // group hosts by where the group is reached, when known
}

// Plan checks rb as Check does and, when it passes, says which steps the
// run would reach and on which hosts, contacting none.
func Plan(rb *runbook.Runbook, inv *inventory.Inventory, opts Options) ([]Planned, error) {
	p := &planner{groups: map[string][]*inventory.Host{}}
	opts.plan = p
	if err := Check(rb, inv, opts); err != nil {
		return nil, err
	}
	parents := blockParents(rb)
	var controller *runbook.Step
	for i := range p.steps {
		s := &p.steps[i]
		s.Within = within(s.imports, s.Step, parents)
		for j, e := range s.Within {
			hosts, ok := p.groups[e.key]
			if !ok {
				continue
			}
			s.Within[j].GroupHosts = hosts
			if s.Known {
				// The run narrows the group's steps to the group's hosts.
				s.Hosts = slices.DeleteFunc(slices.Clone(s.Hosts), func(h *inventory.Host) bool {
					return !slices.ContainsFunc(hosts, func(g *inventory.Host) bool { return g.Name == h.Name })
				})
			}
		}
		if !s.Known {
			s.After = controller
			continue
		}
		for _, h := range s.Hosts {
			if h.Local() && controller == nil {
				controller = s.Step
			}
		}
	}
	return p.steps, nil
}

// record notes a step Check has walked, for Plan.
func (c *checker) record(st *runbook.Step, sc scope, hosts []*inventory.Host, known, handler bool) {
	if c.opts.plan == nil {
		return
	}
	tags := append(append([]string{}, sc.tags...), st.Tags...)
	var patterns []string
	if !handler {
		// Check has reported patterns that do not render.
		patterns, _ = renderPatterns(st, sc.layers, c.opts.ExtraVars, c.opts.taint())
	}
	c.opts.plan.steps = append(c.opts.plan.steps, Planned{Step: st, imports: sc.imports, Handler: handler, Tags: tags, Patterns: patterns, Hosts: hosts, Known: known})
}

// enterGroup notes the hosts of a block or import with hosts:, which the
// run narrows its steps to, when they are known before the run.
func (c *checker) enterGroup(st *runbook.Step, sc scope) {
	g := st.Group
	if c.opts.plan == nil || g == nil || len(g.Hosts) == 0 || !c.exact || c.inv == nil {
		return
	}
	pseudo := &runbook.Step{Name: st.Title(), Pos: st.Pos, Hosts: g.Hosts, HostsPos: g.HostsPos, HostsAt: g.HostsAt, In: st.In}
	patterns, err := renderPatterns(pseudo, sc.layers, c.opts.ExtraVars, c.opts.taint())
	if err != nil {
		return
	}
	hosts, _, err := c.inv.Match(patterns)
	if err != nil {
		return
	}
	c.opts.plan.groups[occurrence(sc.imports, st)] = hosts
}

// occurrence names a place the run reaches a step at: the same runbook
// may be imported twice.
func occurrence(imports []*runbook.Step, st *runbook.Step) string {
	var key strings.Builder
	for _, imp := range imports {
		fmt.Fprintf(&key, "%p/", imp)
	}
	fmt.Fprintf(&key, "%p", st)
	return key.String()
}

type parent struct {
	block *runbook.Step
	part  string
}

// blockParents maps every step in a block to the block and the list it is
// in, in rb and the runbooks it imports.
func blockParents(rb *runbook.Runbook) map[*runbook.Step]parent {
	out := map[*runbook.Step]parent{}
	seen := map[*runbook.Runbook]bool{}
	var walk func(steps []*runbook.Step)
	walk = func(steps []*runbook.Step) {
		for _, st := range steps {
			if st.Import != nil && !seen[st.Import] {
				seen[st.Import] = true
				walk(st.Import.Steps)
			}
			for part, list := range map[string][]*runbook.Step{"block": st.Block, "rescue": st.Rescue, "always": st.Always} {
				for _, child := range list {
					out[child] = parent{st, part}
				}
				walk(list)
			}
		}
	}
	walk(rb.Steps)
	return out
}

// within is the path of imports and blocks that leads to st, reached
// through imports.
func within(imports []*runbook.Step, st *runbook.Step, parents map[*runbook.Step]parent) []Enclosing {
	var out []Enclosing
	blocks := func(x *runbook.Step, prefix []*runbook.Step) {
		var chain []Enclosing
		for p, ok := parents[x]; ok; p, ok = parents[p.block] {
			chain = append(chain, Enclosing{Step: p.block, Part: p.part, key: occurrence(prefix, p.block)})
		}
		slices.Reverse(chain)
		out = append(out, chain...)
	}
	for i, imp := range imports {
		blocks(imp, imports[:i])
		out = append(out, Enclosing{Step: imp, Part: "import", key: occurrence(imports[:i], imp)})
	}
	blocks(st, imports)
	return out
}
