package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
	"gopkg.in/yaml.v3"
)

// Loops: a task step's `loop:` runs the step once per item on each host,
// one item after the other, each checked and applied on its own with its
// own result; an import's `loop:` runs the imported steps once per item.

// loopItem is the item of a task step's loop being run.
type loopItem struct {
	label string
}

// withItem is the scope of the steps of an import for one item of its
// loop: name is the item's variable in templates.
func (s scope) withItem(name string, value any, label string) scope {
	c := s
	c.items = withValue(s.items, name, value)
	c.label = label
	if s.label != "" {
		c.label = s.label + ", " + label
	}
	return c
}

func withValue(items map[string]any, name string, value any) map[string]any {
	out := maps.Clone(items)
	if out == nil {
		out = map[string]any{}
	}
	out[name] = value
	return out
}

// runLoop runs st on h: once, or once per item of its loop, and records
// the host's result.
func (e *Engine) runLoop(ctx context.Context, st *runbook.Step, sc scope, h *inventory.Host) result {
	if st.Loop == nil {
		return e.runHost(ctx, st, sc, h)
	}
	start := time.Now()
	hs := e.state(h.Name)
	r := e.loopHost(ctx, st, sc, h, hs)
	if r.status == Failed && st.IgnoreErrors {
		r.ignored = true
	}
	e.record(st, h, hs, &r, time.Since(start))
	return r
}

// loopHost renders the loop's items with h's variables and runs the step
// for each; its result sums theirs up, and registers them all.
func (e *Engine) loopHost(ctx context.Context, st *runbook.Step, sc scope, h *inventory.Host, hs *hostState) result {
	if e.needsFacts(st) {
		conn, failed := e.connect(ctx, h)
		if failed != nil {
			return *failed
		}
		if _, err := e.facts(ctx, h, hs, conn); err != nil {
			return connFailure(ctx, err)
		}
	}
	vars, _, err := e.vars(sc, h, hs)
	if err != nil {
		return e.templateFailure(ctx, hs, err)
	}
	// Conditions that do not read the item are the same for every item:
	// a false one skips the loop before it is rendered, as it may guard
	// the very variable the loop reads.
	for _, c := range append(slices.Clone(sc.whens), cond{st.When, st.WhenPos}) {
		if c.expr == "" || slices.Contains(tmpl.Names(tmpl.CondText(c.expr)), st.Loop.Var) {
			continue
		}
		ok, err := tmpl.Cond(c.pos, c.expr, vars)
		if err != nil {
			return e.templateFailure(ctx, hs, err)
		}
		if !ok {
			return result{status: Skipped, msg: "condition is false: " + c.expr}
		}
	}
	items, err := e.loopItems(st.In.File, st.Loop, vars)
	if err != nil {
		return e.templateFailure(ctx, hs, err)
	}
	if len(items) == 0 {
		return result{status: Skipped, msg: "loop: no items"}
	}
	results := make([]result, 0, len(items))
	regs := make([]any, 0, len(items))
	for _, item := range items {
		isc := sc
		isc.items, isc.item = withValue(sc.items, st.Loop.Var, item), &loopItem{label: itemLabel(item)}
		r := e.runHost(ctx, st, isc, h)
		reg := registered(&r)
		reg["item"] = item
		if st.Loop.Var != runbook.DefaultLoopVar {
			reg[st.Loop.Var] = item
		}
		results, regs = append(results, r), append(regs, reg)
		if r.status == Unreachable || ctx.Err() != nil {
			break
		}
	}
	return sumItems(results, regs, len(items))
}

// sumItems is a host's result for a whole loop, as Ansible sums one up:
// failed if an item failed, else changed if one changed, skipped if all
// were. Registered, it holds every item's result under results.
func sumItems(rs []result, regs []any, n int) result {
	out := result{data: map[string]any{"results": regs}, items: n, status: OK}
	failed, skipped, changed := 0, 0, false
	var firstFailure string
	for i, r := range rs {
		out.notRun = out.notRun || r.notRun
		out.unknown = out.unknown || r.unknown
		out.via = sameVia(out.via, r.via)
		out.viaLocal = out.viaLocal || r.viaLocal
		switch r.status {
		case Unreachable:
			out.status, out.msg = Unreachable, r.msg
			return out
		case Failed:
			failed++
			if firstFailure == "" {
				firstFailure = fmt.Sprintf("item %d: %s", i+1, r.msg)
			}
		case Changed:
			changed = true
		case Skipped:
			skipped++
		}
	}
	switch {
	case failed > 0:
		out.status, out.msg = Failed, fmt.Sprintf("%d of %d items failed; %s", failed, n, firstFailure)
		out.changed = changed
	case changed:
		out.status = Changed
	case skipped == len(rs):
		out.status, out.msg = Skipped, "every item was skipped"
	}
	// Some item's answer depends on earlier steps: so does the loop's.
	out.unknown = out.unknown && (out.status == Changed || out.status == OK)
	return out
}

// sameVia keeps the delegate every item ran against, or says there were
// several.
func sameVia(have, next string) string {
	switch {
	case have == "" || have == next:
		return next
	case next == "":
		return have
	}
	return "(several)"
}

// recordItem reports one item's result. The host's counts and registered
// value are the whole loop's, recorded once it is done; a change that
// check mode only pretended to make counts at once, as later items may
// depend on it.
func (e *Engine) recordItem(st *runbook.Step, h *inventory.Host, hs *hostState, it *loopItem, r *result, took time.Duration) {
	if r.status == Changed && e.opts.Check {
		e.mu.Lock()
		hs.pending = true
		e.mu.Unlock()
	}
	ev := Event{Type: ItemResult, Step: st.Title(), Task: st.Module.Name, Pos: st.Pos.String(), Host: h.Name, Item: it.label,
		Status: r.status, Ignored: r.ignored, Unknown: r.unknown, Changes: r.summary, Message: r.msg, Duration: ms(took), Check: e.opts.Check, DelegateTo: r.via}
	commandOutput(&ev, r)
	if e.opts.Diff {
		ev.Diff = r.diff
		if r.secret && r.diff != "" {
			ev.Diff = hideDiff(r.diff)
		}
	}
	e.emit(ev)
}

// runImport runs an import's steps: once, or once per item of its loop,
// every step for one item before the next item. The items are the same
// for every host, so each item is a pass through the imported runbook
// as a whole, as a rolling change reads.
func (e *Engine) runImport(ctx context.Context, st *runbook.Step, sc scope) error {
	child := sc.child(st)
	if st.Loop == nil {
		return e.runBook(ctx, st.Import, child)
	}
	inv := e.inventory()
	items, err := importItems(st, sc, e.opts.ExtraVars, inv, e.opts.Check, e.liveHostVars(inv), e.taint, &e.secrets)
	if err != nil {
		return err
	}
	for _, item := range items {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := e.runBook(ctx, st.Import, child.withItem(st.Loop.Var, item, itemLabel(item))); err != nil {
			return err
		}
	}
	return nil
}

// importItems renders an import's loop. No host is chosen for it: it
// reads the runbook's variables, -e, .groups, .hostvars, .check_mode and
// the items of the looping imports around it, as `hosts:` does.
func importItems(st *runbook.Step, sc scope, extra map[string]tmpl.Var, inv *inventory.Inventory, check bool, hostvars map[string]any, taint *tmpl.Taint, secrets *secret.Set) ([]any, error) {
	merged := mergeLayers(append(slices.Clone(sc.layers), extra))
	var names []string
	tmpl.WalkStrings(nodeStrings(st.Loop.Node), func(s string) { names = append(names, tmpl.Names(s)...) })
	needed := map[string]tmpl.Var{}
	for _, name := range neededVars(names, merged) {
		if v, ok := merged[name]; ok {
			needed[name] = v
		}
	}
	base := map[string]any{"check_mode": check}
	if inv != nil {
		base["groups"], base["hostvars"] = inv.GroupMembers(), hostvars
	}
	for k, v := range sc.items {
		delete(needed, k)
		base[k] = v
	}
	if taint != nil {
		taint.Track(base)
	}
	vars, err := tmpl.Resolve(needed, base)
	if err != nil {
		return nil, err
	}
	return loopValues(st.In.File, st.Loop, vars, secrets)
}

// nodeStrings lists the scalars under n, for the names they read.
func nodeStrings(n *yaml.Node) []any {
	var out []any
	seen := map[*yaml.Node]bool{}
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil || seen[n] {
			return
		}
		seen[n] = true
		if n.Kind == yaml.ScalarNode {
			out = append(out, n.Value)
		}
		walk(n.Alias)
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return out
}

// loopItems renders a task step's loop with a host's variables.
func (e *Engine) loopItems(file string, lp *runbook.Loop, vars map[string]any) ([]any, error) {
	return loopValues(file, lp, vars, &e.secrets)
}

// loopValues renders a loop: a list gives its items, a mapping its
// entries as {key, value} (as Ansible's dict2items), and a template the
// list or mapping it gives, whether a variable holding one
// ("{{ .users }}") or text that reads as one (`{{ toJSON .x }}`).
// Values tagged !secret are added to secrets.
func loopValues(file string, lp *runbook.Loop, vars map[string]any, secrets *secret.Set) ([]any, error) {
	n := lp.Node
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode {
		v, err := tmpl.Value(decode.At(file, n), n.Value, vars)
		if err != nil {
			return nil, err
		}
		if n.Tag == "!secret" && secrets != nil {
			secrets.Add(v)
		}
		items, err := listOf(v)
		if err != nil {
			return nil, decode.Errorf(lp.Pos, "loop: %s gave %v: want a list or a mapping (name a variable that holds one, such as \"{{ .users }}\")", decode.Quote(n.Value), err)
		}
		return items, nil
	}
	rendered, err := tmpl.RenderNode(file, n, vars)
	if err != nil {
		return nil, err
	}
	if secrets != nil {
		secrets.Add(decode.SecretScalars(rendered))
	}
	if rendered.Kind == yaml.SequenceNode {
		var items []any
		if err := plain(rendered).Decode(&items); err != nil {
			return nil, decode.Errorf(lp.Pos, "loop: %v", err)
		}
		return items, nil
	}
	pairs, err := decode.Pairs(file, rendered)
	if err != nil {
		return nil, err
	}
	items := make([]any, 0, len(pairs))
	for _, kv := range pairs {
		var value any
		if err := plain(kv[1]).Decode(&value); err != nil {
			return nil, decode.Errorf(decode.At(file, kv[1]), "loop: %v", err)
		}
		items = append(items, map[string]any{"key": kv[0].Value, "value": value})
	}
	return items, nil
}

// listOf turns a template's value into items.
func listOf(v any) ([]any, error) {
	switch x := v.(type) {
	case []any:
		return x, nil
	case map[string]any:
		return entries(x), nil
	case string:
		// Text that reads as a YAML (or JSON) list or mapping.
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(x), &n); err == nil && len(n.Content) == 1 {
			if k := n.Content[0].Kind; k == yaml.SequenceNode || k == yaml.MappingNode {
				var parsed any
				if err := n.Content[0].Decode(&parsed); err == nil {
					return listOf(parsed)
				}
			}
		}
		return nil, fmt.Errorf("%s", describeValue(x))
	case nil:
		return nil, fmt.Errorf("nothing (null)")
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = rv.Index(i).Interface()
		}
		return out, nil
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			m := map[string]any{}
			for _, k := range rv.MapKeys() {
				m[k.String()] = rv.MapIndex(k).Interface()
			}
			return entries(m), nil
		}
	}
	return nil, fmt.Errorf("%s", describeValue(v))
}

// entries is a mapping's {key, value} items, sorted by key: a mapping a
// template gives has no order of its own.
func entries(m map[string]any) []any {
	out := make([]any, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, map[string]any{"key": k, "value": m[k]})
	}
	return out
}

func describeValue(v any) string {
	switch x := v.(type) {
	case string:
		return "the text " + decode.Quote(x)
	case bool, int, int64, uint64, float64:
		return fmt.Sprint(x)
	}
	return fmt.Sprintf("a value of type %T", v)
}

// plain is a copy of n without !secret tags, which the YAML decoder does
// not know: the values are secret already.
func plain(n *yaml.Node) *yaml.Node {
	done := map[*yaml.Node]*yaml.Node{}
	var cp func(*yaml.Node) *yaml.Node
	cp = func(n *yaml.Node) *yaml.Node {
		if n == nil {
			return nil
		}
		if c, ok := done[n]; ok {
			return c
		}
		c := *n
		done[n] = &c
		if c.Tag == "!secret" {
			c.Tag = ""
			if c.Kind == yaml.ScalarNode {
				c.Tag = "!!str"
			}
		}
		c.Alias = cp(n.Alias)
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, x := range n.Content {
			c.Content[i] = cp(x)
		}
		return &c
	}
	return cp(n)
}

// itemLabel names an item in output: a scalar as it is, a {key, value}
// entry by its key, anything else as compact JSON, cut short.
func itemLabel(v any) string {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case map[string]any:
		if k, ok := x["key"]; ok && len(x) == 2 {
			if _, ok := x["value"]; ok {
				s = fmt.Sprint(k)
				break
			}
		}
		b, _ := json.Marshal(x)
		s = string(b)
	case []any:
		b, _ := json.Marshal(x)
		s = string(b)
	default:
		s = fmt.Sprint(x)
	}
	s = strings.Join(strings.Fields(s), " ")
	const max = 60
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}
