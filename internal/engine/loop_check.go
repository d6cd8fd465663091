package engine

import (
	"fmt"
	"maps"
	"slices"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"gopkg.in/yaml.v3"
)

// What Check finds in loops and delegate_to before the run.

// importScope is the scope the checker gives an import's steps: with a
// loop, its item is defined in them. The loop itself reads no host's
// variables, so it is rendered here, and what it cannot give is an error
// before any host is contacted.
func (c *checker) importScope(st *runbook.Step, sc scope) scope {
	child := sc.child(st)
	if st.Loop == nil {
		return child
	}
	c.shadowed(st, sc)
	if c.importLoopReads(st, sc) {
		var hostvars map[string]any
		if c.inv != nil {
			hostvars = hostVarsOf(c.inv)
		}
		if _, err := importItems(st, sc, c.opts.ExtraVars, c.inv, c.opts.Check, hostvars, c.opts.taint(), c.opts.Secrets); err != nil {
			c.errs.Add(err)
		}
	}
	return child.withItem(st.Loop.Var, nil, "")
}

// importLoopReads reports undefined names an import's loop reads, and
// whether it can be rendered here.
func (c *checker) importLoopReads(st *runbook.Step, sc scope) bool {
	merged := mergeLayers(append(slices.Clone(sc.layers), c.opts.ExtraVars))
	ok := true
	for _, s := range nodeStrings(st.Loop.Node) {
		for _, name := range neededVars(tmpl.Reads(s.(string)), merged) {
			_, defined := merged[name]
			switch {
			case defined || hasItem(sc, name) || name == "check_mode":
			case name == "groups" || name == "hostvars":
				ok = ok && c.inv != nil
			default:
				c.errs.Add(decode.Errorf(st.Loop.Pos, "loop: undefined variable %q: the loop of an import reads the runbook's vars, -e, .groups, .hostvars, .check_mode and the items of the looping imports around it, as its items are the same for every host (a task step's loop reads its host's variables)%s",
					name, decode.Suggest(name, slices.Collect(maps.Keys(merged)))))
				ok = false
			}
		}
	}
	return ok
}

// loopAndDelegate checks a task step's loop variable, and the host its
// delegate_to names when it is written out and the inventory is known.
func (c *checker) loopAndDelegate(st *runbook.Step, sc scope) {
	if st.Loop != nil {
		c.shadowed(st, sc)
	}
	if st.DelegateTo == "" || decode.HasTemplate(st.DelegateTo) || c.inv == nil || !c.exact {
		return
	}
	if _, err := delegateHost(c.inv, st.DelegateTo); err != nil {
		key := st.DelegatePos.String() + "\x00delegate"
		if !c.reported[key] {
			c.reported[key] = true
			c.errs.Add(decode.Errorf(st.DelegatePos, "%v", err))
		}
	}
}

// shadowed refuses a loop whose variable is already the item of a looping
// import around it: the outer item could not be read inside.
func (c *checker) shadowed(st *runbook.Step, sc scope) {
	if !hasItem(sc, st.Loop.Var) {
		return
	}
	key := st.Loop.VarPos.String() + "\x00shadow"
	if c.reported[key] {
		return
	}
	c.reported[key] = true
	c.errs.Add(decode.Errorf(st.Loop.VarPos, "loop: .%s is already the item of a looping import this step is in, which it would hide: give one of the loops another name with loop_var:", st.Loop.Var))
}

// delegatesToController reports whether st may run its module on the
// controller, and so change the inventory as a step on local may.
func (c *checker) delegatesToController(st *runbook.Step) bool {
	if st.DelegateTo == "" || c.inv == nil {
		return false
	}
	if decode.HasTemplate(st.DelegateTo) {
		return true // which host is known only once rendered
	}
	d, err := delegateHost(c.inv, st.DelegateTo)
	return err == nil && d.Local()
}

// loopChecks adds to a step's checks those of its loop and delegate_to,
// and lets its parameters, conditions and delegate_to read its loop's
// item (the loop itself cannot).
func loopChecks(st *runbook.Step, checks []check) []check {
	if st.Loop != nil {
		for i := range checks {
			also := maps.Clone(checks[i].also)
			if also == nil {
				also = map[string]bool{}
			}
			also[st.Loop.Var] = true
			checks[i].also = also
		}
	}
	if st.DelegateTo != "" && decode.HasTemplate(st.DelegateTo) {
		chk := check{pos: st.DelegatePos, names: tmpl.Reads(st.DelegateTo)}
		if st.Loop != nil {
			chk.also = map[string]bool{st.Loop.Var: true}
		}
		checks = append(checks, chk)
	}
	if st.Loop != nil {
		var walk func(*yaml.Node)
		seen := map[*yaml.Node]bool{}
		walk = func(n *yaml.Node) {
			if n == nil || seen[n] {
				return
			}
			seen[n] = true
			if n.Kind == yaml.ScalarNode && decode.HasTemplate(n.Value) {
				checks = append(checks, check{pos: decode.At(st.In.File, n), names: tmpl.Reads(n.Value),
					what: fmt.Sprintf(" (in the loop of step %q)", st.Title())})
			}
			walk(n.Alias)
			for _, x := range n.Content {
				walk(x)
			}
		}
		walk(st.Loop.Node)
	}
	return checks
}

// hasItem reports whether name is the item of a looping import around.
func hasItem(sc scope, name string) bool {
	_, ok := sc.items[name]
	return ok
}
