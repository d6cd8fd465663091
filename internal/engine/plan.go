package engine

import (
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/inventory"
)

// Planned is a step as a run would reach it, for --list-hosts and
// --list-tasks: in run order, imports expanded, each runbook's handlers
// after its steps.
type Planned struct {
	Step    *runbook.Step
	Imports []*runbook.Step // the import steps it is reached through, outermost first
	Handler bool
	Tags    []string // its own, after those of its imports
	// Patterns are the step's hosts: rendered (none for a handler).
	Patterns []string
	// Hosts it runs on (a handler: those it may be notified on), when
	// Known. A step after one on the controller is matched when the run
	// reaches it, as that step may change the inventory: After names it.
	Hosts []*inventory.Host
	Known bool
	After *runbook.Step
}

// Plan checks rb as Check does and, when it passes, says which steps the
// run would reach and on which hosts, contacting none.
func Plan(rb *runbook.Runbook, inv *inventory.Inventory, opts Options) ([]Planned, error) {
	var plan []Planned
	opts.plan = &plan
	if err := Check(rb, inv, opts); err != nil {
		return nil, err
	}
	var controller *runbook.Step
	for i := range plan {
		p := &plan[i]
		if !p.Known {
			p.After = controller
			continue
		}
		for _, h := range p.Hosts {
			if h.Local() && controller == nil {
				controller = p.Step
			}
		}
	}
	return plan, nil
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
		patterns, _ = renderPatterns(st, sc.layers, c.opts.ExtraVars, nil)
	}
	*c.opts.plan = append(*c.opts.plan, Planned{Step: st, Imports: sc.imports, Handler: handler, Tags: tags, Patterns: patterns, Hosts: hosts, Known: known})
}
