// Package inventory says which hosts exist, how to reach them, which groups
// they belong to and which variables apply to them. Inventories come from
// providers: a static YAML file, or a dynamic source such as a cloud API.
package inventory

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/runbookdev/runbook/internal/tmpl"
)

// Host is one machine.
type Host struct {
	Name       string
	Address    string
	Port       int
	User       string
	Key        string // private key file
	Connection string // "ssh" (default) or "local"
	Vars       map[string]tmpl.Var
}

// Local reports whether the host is the controller itself.
func (h *Host) Local() bool { return h.Connection == "local" }

// Group is a named set of hosts and child groups, with variables.
type Group struct {
	Name     string
	Hosts    []string
	Children []string
	Vars     map[string]tmpl.Var
}

// Inventory is a resolved set of hosts and groups.
type Inventory struct {
	hosts  map[string]*Host
	order  []string // host names in definition order
	groups map[string]*Group
	// memberOf maps a host to every group it is in, directly or through
	// children, ordered from the least to the most specific.
	memberOf map[string][]string
}

// New builds an inventory and checks that groups refer to known hosts and
// groups without cycles.
func New(hosts []*Host, groups []*Group) (*Inventory, error) {
	inv := &Inventory{hosts: map[string]*Host{}, groups: map[string]*Group{}}
	for _, h := range hosts {
		if _, dup := inv.hosts[h.Name]; dup {
			return nil, fmt.Errorf("host %q is defined twice", h.Name)
		}
		inv.hosts[h.Name] = h
		inv.order = append(inv.order, h.Name)
	}
	for _, g := range groups {
		if _, dup := inv.groups[g.Name]; dup {
			return nil, fmt.Errorf("group %q is defined twice", g.Name)
		}
		if _, clash := inv.hosts[g.Name]; clash {
			return nil, fmt.Errorf("%q is both a host and a group: rename one", g.Name)
		}
		inv.groups[g.Name] = g
	}
	if err := inv.resolve(); err != nil {
		return nil, err
	}
	return inv, nil
}

func (inv *Inventory) resolve() error {
	for _, g := range inv.groups {
		for _, h := range g.Hosts {
			if _, ok := inv.hosts[h]; !ok {
				return fmt.Errorf("group %q lists host %q, which is not defined", g.Name, h)
			}
		}
		for _, c := range g.Children {
			if _, ok := inv.groups[c]; !ok {
				return fmt.Errorf("group %q lists child group %q, which is not defined", g.Name, c)
			}
		}
	}
	depth := map[string]int{}
	var walk func(name string, stack []string) error
	walk = func(name string, stack []string) error {
		if slices.Contains(stack, name) {
			return fmt.Errorf("group cycle: %s", strings.Join(append(stack, name), " -> "))
		}
		d := len(stack) + 1
		if depth[name] >= d {
			return nil
		}
		depth[name] = d
		for _, c := range inv.groups[name].Children {
			if err := walk(c, append(stack, name)); err != nil {
				return err
			}
		}
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(inv.groups)) {
		if err := walk(name, nil); err != nil {
			return err
		}
	}
	inv.memberOf = map[string][]string{}
	for name := range inv.groups {
		for _, h := range inv.groupHosts(name, map[string]bool{}) {
			inv.memberOf[h] = append(inv.memberOf[h], name)
		}
	}
	for h, gs := range inv.memberOf {
		sort.Slice(gs, func(i, j int) bool {
			if depth[gs[i]] != depth[gs[j]] {
				return depth[gs[i]] < depth[gs[j]]
			}
			return gs[i] < gs[j]
		})
		inv.memberOf[h] = slices.Compact(gs)
	}
	return nil
}

func (inv *Inventory) groupHosts(name string, seen map[string]bool) []string {
	if seen[name] {
		return nil
	}
	seen[name] = true
	g := inv.groups[name]
	out := append([]string{}, g.Hosts...)
	for _, c := range g.Children {
		out = append(out, inv.groupHosts(c, seen)...)
	}
	return out
}

// Host returns a host by name.
func (inv *Inventory) Host(name string) (*Host, bool) {
	h, ok := inv.hosts[name]
	return h, ok
}

// Hosts lists every host in definition order.
func (inv *Inventory) Hosts() []*Host {
	out := make([]*Host, len(inv.order))
	for i, name := range inv.order {
		out[i] = inv.hosts[name]
	}
	return out
}

// Groups lists the group names, sorted.
func (inv *Inventory) Groups() []*Group {
	out := make([]*Group, 0, len(inv.groups))
	for _, name := range slices.Sorted(maps.Keys(inv.groups)) {
		out = append(out, inv.groups[name])
	}
	return out
}

// GroupsOf lists the groups a host is in, least specific first.
func (inv *Inventory) GroupsOf(host string) []string { return inv.memberOf[host] }

// GroupMembers maps every group (and "all") to its host names.
func (inv *Inventory) GroupMembers() map[string][]string {
	out := map[string][]string{"all": append([]string{}, inv.order...)}
	for _, name := range inv.order {
		for _, g := range inv.memberOf[name] {
			out[g] = append(out[g], name)
		}
	}
	return out
}

// VarLayers returns the variables that apply to a host, lowest precedence
// first: the "all" group, its groups from least to most specific, then the
// host's own.
func (inv *Inventory) VarLayers(host string) []map[string]tmpl.Var {
	var out []map[string]tmpl.Var
	if all, ok := inv.groups["all"]; ok {
		out = append(out, all.Vars)
	}
	for _, g := range inv.memberOf[host] {
		if g != "all" {
			out = append(out, inv.groups[g].Vars)
		}
	}
	if h, ok := inv.hosts[host]; ok {
		out = append(out, h.Vars)
	}
	return out
}

// LocalHost is the controller, matched by the pattern "local" when the
// inventory defines no host of that name.
var LocalHost = &Host{Name: "local", Connection: "local"}

// Match resolves host patterns to hosts, in inventory order. Patterns are
// Ansible's: names of hosts or groups, "all", globs such as web*, joined by
// commas or colons; a term starting with & intersects, with ! excludes.
// Terms that match nothing are returned so the caller can say so.
func (inv *Inventory) Match(patterns []string) (hosts []*Host, unmatched []string) {
	var include, intersect, exclude []string
	for _, p := range patterns {
		for _, term := range strings.FieldsFunc(p, func(r rune) bool { return r == ',' || r == ':' }) {
			term = strings.TrimSpace(term)
			switch {
			case strings.HasPrefix(term, "!"):
				exclude = append(exclude, term[1:])
			case strings.HasPrefix(term, "&"):
				intersect = append(intersect, term[1:])
			case term != "":
				include = append(include, term)
			}
		}
	}
	selected := map[string]bool{}
	wantLocal := false
	for _, term := range include {
		names := inv.term(term)
		if len(names) == 0 {
			if term == "local" {
				wantLocal = true
				continue
			}
			unmatched = append(unmatched, term)
		}
		for _, n := range names {
			selected[n] = true
		}
	}
	for _, term := range intersect {
		keep := map[string]bool{}
		for _, n := range inv.term(term) {
			keep[n] = selected[n]
		}
		selected = keep
	}
	for _, term := range exclude {
		for _, n := range inv.term(term) {
			delete(selected, n)
		}
	}
	for _, name := range inv.order {
		if selected[name] {
			hosts = append(hosts, inv.hosts[name])
		}
	}
	if wantLocal {
		hosts = append(hosts, LocalHost)
	}
	return hosts, unmatched
}

// term resolves one pattern term to host names.
func (inv *Inventory) term(t string) []string {
	if t == "all" || t == "*" {
		return inv.order
	}
	if _, ok := inv.hosts[t]; ok {
		return []string{t}
	}
	if _, ok := inv.groups[t]; ok {
		return inv.groupHosts(t, map[string]bool{})
	}
	if !strings.ContainsAny(t, "*?[") {
		return nil
	}
	var out []string
	for _, name := range inv.order {
		if ok, _ := path.Match(t, name); ok {
			out = append(out, name)
		}
	}
	for _, g := range slices.Sorted(maps.Keys(inv.groups)) {
		if ok, _ := path.Match(t, g); ok {
			out = append(out, inv.groupHosts(g, map[string]bool{})...)
		}
	}
	return out
}
