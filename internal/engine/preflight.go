package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
)

// Preflight loads the inventory and checks the runbook against it and the
// options (see Check), before any host is contacted. Run then works from
// that same inventory, so what was checked is what runs.
func (e *Engine) Preflight(ctx context.Context, rb *runbook.Runbook) error {
	if err := e.reload(ctx); err != nil {
		return err
	}
	opts := e.opts
	opts.Secrets = &e.secrets
	if err := Check(rb, e.inventory(), opts); err != nil {
		return err
	}
	e.checked = rb
	return nil
}

// builtins are the names runbook sets for every template on a host.
var builtins = map[string]bool{"host": true, "groups": true, "hostvars": true, "check_mode": true, "facts": true}

// Check finds what would fail on hosts, or do nothing, and can be known
// before the run: --tags, --skip-tags and --limit that name nothing; host
// patterns with a term that matches no host or group; variables that no
// source defines where a template reads them (runbook and inventory vars,
// -e, values registered by earlier steps on the same host); cycles among
// variables; conditions on a variable that is neither true nor false; key
// files that are not there; template files that read undefined variables.
//
// inv nil means the inventory is not known (validate without one, or with
// one only an API can list): what depends on it is left to the run.
//
// Host patterns are matched against the inventory as the run starts. A step
// on the controller may change the inventory (provisioning adds hosts, and
// new hosts bring variables), so the steps after the first such step are
// matched when they are reached, against the inventory read again, and what
// they read is left to the run.
func Check(rb *runbook.Runbook, inv *inventory.Inventory, opts Options) error {
	c := &checker{
		opts: opts, inv: inv, exact: inv != nil,
		reg: map[string]map[string]*runbook.Step{}, regAny: map[string]*runbook.Step{},
		registers: map[string][]*runbook.Step{}, selected: map[*runbook.Step]bool{}, done: map[*runbook.Step]bool{},
		invVars: map[string][]string{}, keys: map[string][]*inventory.Host{}, files: map[string][]tmpl.Ref{},
		undef: map[string]*undefined{}, reported: map[string]bool{},
		parsed: map[string][2][]string{}, vars: map[string]*hostVars{},
		start: newStartAt(opts.StartAt, rb), skipped: map[*runbook.Step]bool{},
	}
	addSecrets(opts)
	top := scope{layers: []map[string]tmpl.Var{rb.Vars}}
	tags := map[string]bool{}
	c.survey(rb, top, tags, map[*runbook.Runbook]int{})
	c.checkTags(rb, tags)
	c.checkStartAt()
	limitOK := c.checkLimit()
	if inv != nil {
		for _, h := range inv.Hosts() {
			c.reg[h.Name] = map[string]*runbook.Step{}
			for _, l := range inv.VarLayers(h.Name) {
				for name := range l {
					if !slices.Contains(c.invVars[name], h.Name) {
						c.invVars[name] = append(c.invVars[name], h.Name)
					}
				}
			}
		}
		c.reg[inventory.LocalHost.Name] = map[string]*runbook.Step{}
	}
	c.book(rb, top)
	c.checkEmptyRun(rb, limitOK)
	c.checkKeys()
	c.flush()
	return c.errs.Err()
}

type checker struct {
	opts Options
	inv  *inventory.Inventory
	// exact: the hosts of each step are known, as no step has run on the
	// controller yet.
	exact  bool
	ranAny bool        // a step runs on some host
	empty  []emptyStep // steps whose patterns and --limit select no host
	errs   decode.List

	reg       map[string]map[string]*runbook.Step // host -> registered name -> step
	regAny    map[string]*runbook.Step            // registered on some host so far
	registers map[string][]*runbook.Step          // every step that registers a name
	selected  map[*runbook.Step]bool              // by --tags and --skip-tags
	done      map[*runbook.Step]bool              // checked: runs before the step being checked
	invVars   map[string][]string                 // inventory variable -> hosts that have it
	keys      map[string][]*inventory.Host        // key file -> hosts that use it
	files     map[string][]tmpl.Ref               // template file -> what it reads

	undef    map[string]*undefined
	reported map[string]bool
	parsed   map[string][2][]string // template -> Names, Reads: variables are read at every step on every host
	vars     map[string]*hostVars   // by scope and host

	start   *startAt
	skipped map[*runbook.Step]bool // before --start-at-task
}

// names is tmpl.Names (sure false) or tmpl.Reads (sure true) of s, parsed once.
func (c *checker) names(s string, sure bool) []string {
	p, ok := c.parsed[s]
	if !ok {
		p = [2][]string{tmpl.Names(s), tmpl.Reads(s)}
		c.parsed[s] = p
	}
	if sure {
		return p[1]
	}
	return p[0]
}

// survey records which steps --tags selects, every tag, and which steps
// register which names, before anything is checked: hints need them.
func (c *checker) survey(rb *runbook.Runbook, sc scope, tags map[string]bool, depth map[*runbook.Runbook]int) {
	if depth[rb] > 0 {
		return // an import cycle, reported by the loader
	}
	depth[rb]++
	defer func() { depth[rb]-- }()
	c.surveySteps(rb.Steps, sc, tags, depth)
	for _, h := range rb.Handlers {
		c.selected[h] = true
		if h.Register != "" {
			c.registers[h.Register] = append(c.registers[h.Register], h)
		}
	}
}

func (c *checker) surveySteps(steps []*runbook.Step, sc scope, tags map[string]bool, depth map[*runbook.Runbook]int) {
	for _, st := range steps {
		for _, t := range st.Tags {
			tags[t] = true
		}
		if st.Import != nil {
			c.survey(st.Import, sc.child(st), tags, depth)
			continue
		}
		if st.IsBlock() {
			inner := sc.childBlock(st)
			c.surveySteps(st.Block, inner, tags, depth)
			c.surveySteps(st.Rescue, inner, tags, depth)
			c.surveySteps(st.Always, inner, tags, depth)
			continue
		}
		c.selected[st] = c.selected[st] || c.opts.selects(sc, st)
		if st.Register != "" {
			c.registers[st.Register] = append(c.registers[st.Register], st)
		}
	}
}

func (c *checker) checkTags(rb *runbook.Runbook, tags map[string]bool) {
	known := slices.Sorted(maps.Keys(tags))
	list := "no step of " + rb.File + " or its imports has tags"
	if len(known) > 0 {
		list = "tags: " + strings.Join(known, ", ")
	}
	for _, f := range []struct {
		flag string
		tags []string
	}{{"--tags", c.opts.Tags}, {"--skip-tags", c.opts.SkipTags}} {
		for _, t := range f.tags {
			if !tags[t] {
				c.errs.Add(fmt.Errorf("%s %q: no step has this tag%s (%s)", f.flag, t, decode.Suggest(t, known), list))
			}
		}
	}
}

// checkLimit reports --limit terms that match nothing, and says whether
// the limit selects hosts at all.
func (c *checker) checkLimit() bool {
	if len(c.opts.Limit) == 0 || c.inv == nil {
		return false
	}
	hosts, unmatched, err := c.inv.Match(c.opts.Limit)
	if err != nil {
		c.errs.Add(fmt.Errorf("--limit %w", err))
		return false
	}
	for _, u := range unmatched {
		c.errs.Add(fmt.Errorf("--limit %s", u))
	}
	return len(unmatched) == 0 && len(hosts) > 0
}

// book checks rb's steps in the order they run, then its handlers.
func (c *checker) book(rb *runbook.Runbook, sc scope) {
	type ran struct {
		hosts []*inventory.Host
		exact bool
	}
	runs := map[*runbook.Step]ran{}
	var walk func(steps []*runbook.Step, sc scope)
	walk = func(steps []*runbook.Step, sc scope) {
		for _, st := range steps {
			if c.start.skip(st, sc) {
				c.skipped[st] = true
				continue
			}
			c.enterGroup(st, sc)
			sc := c.groupScope(st, sc)
			switch {
			case st.Import != nil:
				c.book(st.Import, c.importScope(st, sc))
			case st.IsBlock():
				inner := sc.childBlock(st)
				walk(st.Block, inner)
				rescue := inner
				rescue.rescue = true
				walk(st.Rescue, rescue)
				walk(st.Always, inner)
			case c.opts.selects(sc, st):
				hosts, exact := c.step(st, sc, nil, false, false)
				runs[st] = ran{hosts, exact}
				c.record(st, sc, hosts, exact, false)
			}
		}
	}
	walk(rb.Steps, sc)
	for _, h := range rb.Handlers {
		var names map[string]bool
		exact := true
		for _, st := range runbook.TaskSteps(rb.Steps) {
			r, ok := runs[st]
			if !ok || !slices.Contains(st.Notify, h.Title()) {
				continue
			}
			if names == nil {
				names = map[string]bool{}
			}
			exact = exact && r.exact
			for _, host := range r.hosts {
				names[host.Name] = true
			}
		}
		if names == nil {
			continue // never notified
		}
		var hosts []*inventory.Host
		if exact {
			for _, host := range append(c.inv.Hosts(), inventory.LocalHost) {
				if names[host.Name] {
					hosts = append(hosts, host)
				}
			}
		}
		hosts, exact = c.step(h, sc, hosts, true, exact)
		c.record(h, sc, hosts, exact, true)
	}
}

// groupScope narrows the steps of a block or an import with hosts to
// those hosts, as the run does, when the hosts are known.
func (c *checker) groupScope(st *runbook.Step, sc scope) scope {
	g := st.Group
	if g == nil || len(g.Hosts) == 0 || !c.exact || c.inv == nil {
		return sc
	}
	pseudo := &runbook.Step{Name: st.Title(), Pos: st.Pos, Hosts: g.Hosts, HostsPos: g.HostsPos, HostsAt: g.HostsAt, In: st.In}
	patterns, ok := c.patterns(pseudo, sc)
	if !ok {
		return sc
	}
	hosts, unmatched, err := c.inv.Match(patterns)
	if err != nil {
		c.errs.Add(decode.Errorf(g.HostsPos, "hosts: %w", err))
		return sc
	}
	for _, u := range unmatched {
		c.errs.Add(decode.Errorf(hostsAt(pseudo, u.Index), "hosts: %s", u))
	}
	sc.limit = intersect(sc.limit, names(hosts))
	return sc
}

// step checks one step; handler steps come with their hosts. It returns
// the hosts the step runs on, and whether they are known.
func (c *checker) step(st *runbook.Step, sc scope, hosts []*inventory.Host, handler, handlerExact bool) ([]*inventory.Host, bool) {
	c.loopAndDelegate(st, sc)
	known := c.exact
	if handler {
		known = handlerExact
	} else {
		patterns, ok := c.patterns(st, sc)
		if !ok {
			return nil, false
		}
		if known {
			matched, unmatched, err := c.inv.Match(patterns)
			if err != nil {
				c.errs.Add(decode.Errorf(st.HostsPos, "hosts: %w", err))
				return nil, false
			}
			for _, u := range unmatched {
				c.errs.Add(decode.Errorf(hostsAt(st, u.Index), "hosts: %s", u))
			}
			hosts = limitHosts(c.inv, c.opts.Limit, matched)
			if sc.limit != nil {
				// Within a block or import with hosts: only those.
				hosts = slices.DeleteFunc(hosts, func(h *inventory.Host) bool { return !sc.limit[h.Name] })
			}
			if len(hosts) == 0 && len(unmatched) == 0 {
				c.empty = append(c.empty, emptyStep{st, patterns, sc.limit != nil})
			}
			if len(unmatched) > 0 && len(hosts) == 0 {
				// Still check what the step reads, as on any host.
				known = false
			}
		} else if c.inv == nil {
			for i, p := range patterns {
				if _, err := inventory.ParsePattern(p); err != nil {
					c.errs.Add(decode.Errorf(hostsAt(st, i), "hosts: %q: %w", p, err))
				}
			}
		}
	}
	if known && len(hosts) == 0 {
		return nil, true
	}
	checks := c.templates(st, sc)
	if known {
		c.ranAny = true
		for _, h := range hosts {
			c.onHost(st, sc, h, checks)
			if !h.Local() && h.Key != "" {
				c.keys[h.Key] = append(c.keys[h.Key], h)
			}
		}
	} else {
		c.onHost(st, sc, nil, checks)
	}
	c.done[st] = true
	if st.Register != "" {
		c.regAny[st.Register] = st
		for _, h := range hosts {
			c.reg[h.Name][st.Register] = st
		}
	}
	if known && (slices.ContainsFunc(hosts, (*inventory.Host).Local) || c.delegatesToController(st)) {
		// It may change the inventory: later steps are matched when reached.
		c.exact = false
	}
	return hosts, known
}

func hostsAt(st *runbook.Step, i int) decode.Pos {
	if i < len(st.HostsAt) {
		return st.HostsAt[i]
	}
	return st.HostsPos
}

// patterns renders the step's host patterns, which can read only the
// runbook's variables and -e: no host is chosen yet.
func (c *checker) patterns(st *runbook.Step, sc scope) ([]string, bool) {
	if !slices.ContainsFunc(st.Hosts, decode.HasTemplate) {
		return st.Hosts, true
	}
	merged := mergeLayers(append(slices.Clone(sc.layers), c.opts.ExtraVars))
	ok := true
	for i, p := range st.Hosts {
		for _, name := range neededVars(tmpl.Reads(p), merged) {
			if _, defined := merged[name]; !defined {
				c.errs.Add(decode.Errorf(hostsAt(st, i), "hosts: undefined variable %q: hosts: can read the runbook's vars and -e only, as no host is chosen yet (-e %s=...)%s",
					name, name, decode.Suggest(name, slices.Collect(maps.Keys(merged)))))
				ok = false
			}
		}
	}
	if !ok {
		return nil, false
	}
	out, err := renderPatterns(st, sc.layers, c.opts.ExtraVars, c.opts.taint())
	if err != nil {
		c.errs.Add(err)
		return nil, false
	}
	return out, true
}

// checkKeys finds the key files of the hosts the run connects to.
func (c *checker) checkKeys() {
	for _, key := range slices.Sorted(maps.Keys(c.keys)) {
		hosts := c.keys[key]
		_, err := os.Stat(sshkeys.ExpandHome(key))
		if err == nil {
			continue
		}
		var names []string
		for _, h := range hosts {
			names = append(names, h.Name)
		}
		why := err.Error()
		if errors.Is(err, os.ErrNotExist) {
			why = "no such file"
		}
		pos := hosts[0].KeyPos
		if pos.File == "" {
			pos = hosts[0].Pos
		}
		c.errs.Add(decode.Errorf(pos, "key %s (for %s): %s: fix key: in the inventory, or remove it to use ssh-agent and --private-key", key, someOf(names), why))
	}
}

// mergeLayers merges variable layers, later ones winning.
func mergeLayers(layers []map[string]tmpl.Var) map[string]tmpl.Var {
	out := map[string]tmpl.Var{}
	for _, l := range layers {
		maps.Copy(out, l)
	}
	return out
}

// neededVars is names and the names the variables among them read, all
// the way down.
func neededVars(names []string, vars map[string]tmpl.Var) []string {
	var out []string
	seen := map[string]bool{}
	var add func(string)
	add = func(name string) {
		if seen[name] {
			return
		}
		seen[name] = true
		out = append(out, name)
		if v, ok := vars[name]; ok {
			tmpl.WalkStrings(v.Value, func(s string) {
				for _, n := range tmpl.Names(s) {
					add(n)
				}
			})
		}
	}
	for _, n := range names {
		add(n)
	}
	return out
}
