package engine

import (
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
	"github.com/runbookdev/runbook/tasks"
	"gopkg.in/yaml.v3"
)

// What a step reads on each host, checked before the run.

// check is a template a step renders on each host.
type check struct {
	pos   decode.Pos
	what  string // how the error names the place, when pos is not enough
	names []string
	at    map[string]decode.Pos // where each name is read, for template files
	also  map[string]bool       // names only this template can read (until: result)
	cond  string                // a condition, to check the variable it reads
	// guarded: rendered only where the step's conditions hold, which only
	// the run can tell.
	guarded bool
}

// templates lists what the step renders on each host: conditions, until,
// changed_when, failed_when, parameters and the template files it reads on the controller.
func (c *checker) templates(st *runbook.Step, sc scope) []check {
	var out []check
	for _, w := range append(slices.Clone(sc.whens), cond{st.When, st.WhenPos}) {
		if w.expr != "" {
			out = append(out, check{pos: w.pos, names: tmpl.Reads(tmpl.CondText(w.expr)), cond: w.expr})
		}
	}
	for _, c := range []cond{{st.Until, st.UntilPos}, {st.ChangedWhen, st.ChangedWhenPos}, {st.FailedWhen, st.FailedWhenPos}} {
		if c.expr == "" {
			continue
		}
		also := map[string]bool{"result": true}
		if st.Register != "" {
			also[st.Register] = true
		}
		out = append(out, check{pos: c.pos, names: tmpl.Reads(tmpl.CondText(c.expr)), also: also})
	}
	file := st.In.File
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			return
		}
		if decode.HasTemplate(n.Value) {
			out = append(out, check{pos: decode.At(file, n), names: tmpl.Reads(n.Value)})
		}
		for _, child := range n.Content {
			walk(child)
		}
	}
	walk(st.With)
	task := st.Module.New()
	decoded := decode.Node(file, st.With, task, decode.Options{Templates: true}) == nil
	if r, ok := task.(tasks.VarReader); ok && decoded {
		for param, name := range r.ReadsVars() {
			if n := decode.Value(st.With, param); n != nil && name != "" && !decode.HasTemplate(name) {
				out = append(out, check{pos: decode.At(file, n), names: []string{name}})
			}
		}
	}
	if r, ok := task.(tasks.ControllerReader); ok && decoded {
		for _, f := range r.ControllerFiles() {
			if !f.Template || f.Path == "" || decode.HasTemplate(f.Path) {
				continue
			}
			out = append(out, c.templateFile(st, f))
		}
	}
	out = loopChecks(st, out)
	guarded := st.When != "" || len(sc.whens) > 0
	for i := range out {
		out[i].guarded = guarded && out[i].cond == ""
	}
	return out
}

func (c *checker) templateFile(st *runbook.Step, f tasks.ControllerFile) check {
	path := f.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(st.In.Dir, path)
	}
	refs, ok := c.files[path]
	if !ok {
		// The loader has reported a file that is missing or does not parse.
		if text, err := decode.ReadFile(path); err == nil {
			refs = tmpl.FileRefs(string(text))
		}
		c.files[path] = refs
	}
	chk := check{pos: decode.Pos{File: path}, at: map[string]decode.Pos{},
		what: fmt.Sprintf(" (the %s of step %q at %s)", f.Param, st.Title(), st.Pos)}
	for _, r := range refs {
		chk.names = append(chk.names, r.Name)
		chk.at[r.Name] = decode.Pos{File: path, Line: r.Line, Col: r.Col}
	}
	return chk
}

// onHost checks what the step renders on h, or on any host when h is nil
// (its hosts are not known before the run).
func (c *checker) onHost(st *runbook.Step, sc scope, h *inventory.Host, checks []check) {
	hv := c.hostVars(sc, h)
	reg := c.regAny
	if h != nil {
		reg = c.reg[h.Name]
	}
	// Without a host, names are judged against every host's variables while
	// the inventory is as it was loaded. Once a step has run on the
	// controller, new hosts may bring new variables: any name may come.
	judge := h != nil || c.exact
	defined := func(name string) bool {
		_, v := hv.merged[name]
		_, r := reg[name]
		return v || r || builtins[name] || (h == nil && len(c.invVars[name]) > 0) || (name == "failure" && sc.rescue) || hasItem(sc, name)
	}
	// Every variable is rendered for every step on every host, except those
	// a registered value replaces.
	for _, m := range hv.missing {
		if _, shadowed := reg[m.name]; judge && !shadowed && !defined(m.ref) {
			c.undefined(m.pos, m.ref, fmt.Sprintf(" (read by variable %q)", m.name), st, h, hv.merged, reg)
		}
	}
	for _, chk := range checks {
		for _, name := range chk.names {
			if !judge || defined(name) || chk.also[name] {
				continue
			}
			if chk.guarded && (len(c.invVars[name]) > 0 || c.regAny[name] != nil) {
				continue // maybe defined wherever the conditions hold
			}
			pos := chk.pos
			if p, ok := chk.at[name]; ok {
				pos = p
			}
			c.undefined(pos, name, chk.what, st, h, hv.merged, reg)
		}
		if chk.cond != "" && h != nil {
			c.condVar(chk, hv.merged, reg)
		}
	}
}

// hostVars is what a host's variables are in a scope, worked out once:
// every step of a runbook shares its scope.
type hostVars struct {
	merged  map[string]tmpl.Var
	missing []varRef // names variables read that neither variables nor builtins give
}

type varRef struct {
	name, ref string
	pos       decode.Pos
}

func (c *checker) hostVars(sc scope, h *inventory.Host) *hostVars {
	var key strings.Builder
	for _, l := range sc.layers {
		fmt.Fprintf(&key, "%p,", l)
	}
	layers := slices.Clone(sc.layers)
	if h != nil {
		key.WriteString(h.Name)
		layers = append(layers, c.inv.VarLayers(h.Name)...)
	}
	if hv, ok := c.vars[key.String()]; ok {
		return hv
	}
	hv := &hostVars{merged: mergeLayers(append(layers, c.opts.ExtraVars))}
	for _, name := range slices.Sorted(maps.Keys(hv.merged)) {
		v := hv.merged[name]
		tmpl.WalkStrings(v.Value, func(s string) {
			for _, ref := range c.names(s, true) {
				if _, ok := hv.merged[ref]; !ok && !builtins[ref] {
					hv.missing = append(hv.missing, varRef{name: name, ref: ref, pos: v.Pos})
				}
			}
		})
	}
	c.cycles(hv.merged)
	c.vars[key.String()] = hv
	return hv
}

// condVar refuses a condition that is just a variable whose value, as
// written, is neither true nor false on this host.
func (c *checker) condVar(chk check, merged map[string]tmpl.Var, reg map[string]*runbook.Step) {
	name, ok := tmpl.CondVar(chk.cond)
	if !ok {
		return
	}
	v, ok := merged[name]
	if _, registered := reg[name]; !ok || registered {
		return
	}
	switch x := v.Value.(type) {
	case bool:
		return
	case string:
		if x == "true" || x == "false" || decode.HasTemplate(x) {
			return
		}
	}
	value := ""
	if s := fmt.Sprint(v.Value); !v.Secret && len(s) <= 20 && !strings.ContainsAny(s, "\n") {
		value = fmt.Sprintf(" %q", s)
	}
	key := chk.pos.String() + "\x00cond"
	if c.reported[key] {
		return
	}
	c.reported[key] = true
	c.errs.Add(decode.Errorf(chk.pos, "condition %q reads variable %q, set to%s at %s, which is neither true nor false: set it to true or false, or compare it (eq .%s \"...\")",
		chk.cond, name, value, v.Pos, name))
}

// cycles reports variables that refer to themselves, directly or not.
func (c *checker) cycles(merged map[string]tmpl.Var) {
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(name string, chain []string)
	visit = func(name string, chain []string) {
		switch state[name] {
		case 1:
			i := slices.Index(chain, name)
			cycle := append(slices.Clone(chain[i:]), name)
			v := merged[cycle[0]]
			msg := fmt.Sprintf("variable %q refers to itself: %s", cycle[0], strings.Join(cycle, " -> "))
			if !c.reported[msg] {
				c.reported[msg] = true
				c.errs.Add(decode.Errorf(v.Pos, "%s", msg))
			}
			return
		case 2:
			return
		}
		state[name] = 1
		tmpl.WalkStrings(merged[name].Value, func(s string) {
			for _, ref := range c.names(s, false) {
				if _, ok := merged[ref]; ok {
					visit(ref, append(chain, name))
				}
			}
		})
		state[name] = 2
	}
	for _, name := range slices.Sorted(maps.Keys(merged)) {
		visit(name, nil)
	}
}

// undefined is a name read where nothing defines it, on some hosts.
type undefined struct {
	pos   decode.Pos
	name  string
	what  string
	hint  string
	hosts []string
}

func (c *checker) undefined(pos decode.Pos, name, what string, st *runbook.Step, h *inventory.Host, merged map[string]tmpl.Var, reg map[string]*runbook.Step) {
	key := pos.String() + "\x00" + name
	u, ok := c.undef[key]
	if !ok {
		u = &undefined{pos: pos, name: name, what: what, hint: c.hint(name, st, merged, reg)}
		c.undef[key] = u
	}
	if h != nil && !slices.Contains(u.hosts, h.Name) {
		u.hosts = append(u.hosts, h.Name)
	}
}

// hint says where a name could have come from, and what to do.
func (c *checker) hint(name string, st *runbook.Step, merged map[string]tmpl.Var, reg map[string]*runbook.Step) string {
	for _, by := range c.registers[name] {
		where := fmt.Sprintf("step %q at %s registers it", by.Title(), by.Pos)
		switch {
		case by == st:
			return where + ": it is there after the step has run (and in its until:)"
		case c.skipped[by] && !c.done[by]:
			return where + ", but --start-at-task skips it"
		case !c.selected[by]:
			return where + ", but --tags or --skip-tags leave that step out"
		case !c.done[by]:
			return where + ", but runs after this one"
		default:
			return where + ", but does not run on these hosts"
		}
	}
	if hosts := c.invVars[name]; len(hosts) > 0 {
		return "the inventory defines it only for " + someOf(hosts)
	}
	if name == "failure" {
		return "runbook sets .failure (step, message) only in the rescue steps of a block"
	}
	known := slices.Collect(maps.Keys(merged))
	known = append(append(known, slices.Collect(maps.Keys(reg))...), slices.Collect(maps.Keys(builtins))...)
	return fmt.Sprintf("define it in the runbook's vars, the inventory or with -e %s=...%s", name, decode.Suggest(name, known))
}

func (c *checker) flush() {
	for _, u := range c.undef {
		on := ""
		if len(u.hosts) > 0 {
			on = " on " + someOf(u.hosts)
		}
		c.errs.Add(decode.Errorf(u.pos, "undefined variable %q%s%s: %s", u.name, on, u.what, u.hint))
	}
}

// someOf names a few of many hosts.
func someOf(names []string) string {
	if len(names) <= 3 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:3], ", "), len(names)-3)
}
