package runbook

import (
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
	"gopkg.in/yaml.v3"
)

// Group says how a block or an import runs over its hosts.
type Group struct {
	// Hosts, when set, are the group's hosts: its steps run on their own
	// hosts narrowed to these (a block's steps that name none take them).
	Hosts    []string
	HostsPos decode.Pos
	HostsAt  []decode.Pos
	// Serial splits the hosts into batches that each run the whole group
	// before the next starts; MaxFail stops the run after a batch where
	// more than that percentage of its hosts failed.
	Serial  []Batch
	MaxFail *float64
	// Order is the order hosts are batched in: one of Orders, or a
	// template rendered per host, the hosts sorted by what it gives.
	Order    string
	OrderPos decode.Pos
	// AnyErrorsFatal stops the run after any step of the group in which
	// a host failed.
	AnyErrorsFatal bool
	// Throttle caps how many hosts run a step of the group at once.
	Throttle int
}

// Orders are the orders `order:` names; anything else must be a template.
var Orders = []string{"inventory", "reverse_inventory", "sorted", "reverse_sorted", "shuffle"}

// blockKeys are the keys a block step may carry.
var blockKeys = map[string]bool{"name": true, "hosts": true, "tags": true, "when": true, "vars": true,
	"become": true, "become_user": true, "become_method": true, "block": true, "rescue": true, "always": true,
	"serial": true, "order": true, "max_fail_percentage": true, "any_errors_fatal": true, "throttle": true}

const blockKeyList = "name, hosts, tags, when, vars, become, become_user, become_method, block, rescue, always, serial, order, max_fail_percentage, any_errors_fatal, throttle"

// importKeyList is importOnly in the order the docs give.
const importKeyList = "name, import, vars, vars_files, tags, when, hosts, serial, order, max_fail_percentage, any_errors_fatal, throttle, loop, loop_var"

// block reads a block step: its steps, its rescue and always steps, and
// the group keys.
func (l *loader) block(rb *Runbook, s *Step, raw *rawStep, n *yaml.Node, hosts, defaults patterns, stack []string, handler bool) *Step {
	file := rb.File
	if handler {
		l.errs.Add(decode.Errorf(s.Pos, "a handler cannot be a block: notify the handlers one by one"))
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !blockKeys[k.Value] {
			l.errs.Add(decode.Errorf(decode.At(file, k), "%s cannot be used with block (allowed: %s)", decode.Quote(k.Value), blockKeyList))
		}
	}
	if decode.Value(n, "block") == nil {
		l.errs.Add(decode.Errorf(s.Pos, "step %s has rescue: or always: but no block: (the steps they guard)", describeStep(raw.Name)))
		return nil
	}
	if len(raw.Block) == 0 {
		l.errs.Add(decode.Errorf(keyPos(file, n, "block"), "block: is empty: give it the steps it groups"))
	}
	vars, err := tmpl.ParseVars(file, &raw.Vars)
	l.errs.Add(err)
	s.BlockVars = vars
	l.become(s, raw, n)
	l.group(s, raw, n, hosts)
	inner := defaults
	if len(hosts.list) > 0 {
		inner = hosts
	}
	s.Block = l.steps(rb, raw.Block, inner, stack, s)
	s.Rescue = l.steps(rb, raw.Rescue, inner, stack, s)
	s.Always = l.steps(rb, raw.Always, inner, stack, s)
	if s.Block == nil {
		s.Block = []*Step{} // a block still, if all its steps were bad
	}
	return s
}

// steps reads the steps of a block: those that say nothing of become
// take the block's, and those that name no become_method the block's.
func (l *loader) steps(rb *Runbook, nodes []yaml.Node, defaults patterns, stack []string, b *Step) []*Step {
	var out []*Step
	for i := range nodes {
		st := l.step(rb, &nodes[i], defaults, stack, false)
		if st == nil {
			continue
		}
		if b.Become && st.Import == nil && !st.Become && decode.Value(&nodes[i], "become") == nil {
			st.Become, st.BecomeUser = true, b.BecomeUser
		}
		if st.BecomeMethod == "" {
			st.BecomeMethod = b.BecomeMethod
		}
		out = append(out, st)
	}
	return out
}

// group reads the keys that say how a block or an import runs over its
// hosts.
func (l *loader) group(s *Step, raw *rawStep, n *yaml.Node, hosts patterns) {
	file := s.In.File
	g := &Group{Serial: raw.Serial, MaxFail: raw.MaxFail, Order: raw.Order, AnyErrorsFatal: raw.AnyErrorsFatal, Throttle: raw.Throttle}
	if decode.Value(n, "hosts") != nil {
		l.checkPatterns(hosts)
		g.Hosts, g.HostsPos, g.HostsAt = hosts.list, hosts.pos, hosts.at
	}
	if g.MaxFail != nil && (*g.MaxFail < 0 || *g.MaxFail > 100) {
		l.errs.Add(decode.Errorf(keyPos(file, n, "max_fail_percentage"), "max_fail_percentage must be between 0 and 100"))
	}
	if g.Throttle < 0 {
		l.errs.Add(decode.Errorf(keyPos(file, n, "throttle"), "throttle must be 1 or more (0: no limit)"))
	}
	if g.Order != "" {
		g.OrderPos = keyPos(file, n, "order")
		if decode.HasTemplate(g.Order) {
			if _, err := tmpl.Parse(g.OrderPos, g.Order); err != nil {
				l.errs.Add(err)
			}
		} else if !contains(Orders, g.Order) {
			l.errs.Add(decode.Errorf(g.OrderPos, "order: %s is not an order: use one of %s, or a template whose value per host sorts them%s",
				decode.Quote(g.Order), strings.Join(Orders, ", "), decode.Suggest(g.Order, Orders)))
		}
	}
	if len(g.Hosts) == 0 {
		for _, key := range []string{"serial", "order"} {
			if decode.Value(n, key) != nil {
				l.errs.Add(decode.Errorf(keyPos(file, n, key), "%s needs hosts: on the %s, the hosts it batches", key, kind(s)))
			}
		}
	}
	s.Group = g
}

// taskGroupKeys reads the group keys a task step may carry, and refuses
// the others.
func (l *loader) taskGroupKeys(s *Step, raw *rawStep, n *yaml.Node) {
	file := s.In.File
	if raw.Order != "" {
		l.errs.Add(decode.Errorf(keyPos(file, n, "order"), "order belongs to a block or an import (it orders their batches), not to a task step"))
	}
	if raw.Throttle < 0 {
		l.errs.Add(decode.Errorf(keyPos(file, n, "throttle"), "throttle must be 1 or more (0: no limit)"))
	}
	s.Throttle, s.AnyErrorsFatal = raw.Throttle, raw.AnyErrorsFatal
}

// TaskSteps lists the task and import steps of steps in the order they
// are written, those of blocks (with their rescue and always steps)
// included, those of imported runbooks not.
func TaskSteps(steps []*Step) []*Step {
	var out []*Step
	for _, s := range steps {
		if s.IsBlock() {
			out = append(out, TaskSteps(s.Block)...)
			out = append(out, TaskSteps(s.Rescue)...)
			out = append(out, TaskSteps(s.Always)...)
			continue
		}
		out = append(out, s)
	}
	return out
}

func kind(s *Step) string {
	if s.Import != nil {
		return "import"
	}
	return "block"
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
