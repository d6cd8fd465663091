// Package inventory says which hosts exist, how to reach them, which groups
// they belong to and which variables apply to them. Inventories come from
// providers: a static YAML file, or a dynamic source such as a cloud API.
package inventory

import (
	"maps"
	"slices"
	"sort"
	"strings"
	"unicode"

	"github.com/runbookdev/runbook/internal/decode"
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
	// ProxyJump is the bastions the host is reached through, as ssh's
	// ProxyJump says them; "none" is none, whatever ~/.ssh/config says.
	// Empty: as ~/.ssh/config says.
	ProxyJump string
	Vars      map[string]tmpl.Var
	FileVars  map[string]tmpl.Var // from host_vars/
	Pos       decode.Pos          // where a file defines it; zero for hosts an API reports
	KeyPos    decode.Pos          // where a file sets Key
	// Become and BecomeUser make every step on the host run as another
	// user (ansible_become, ansible_become_user), as become: on a step.
	// BecomeMethod (ansible_become_method) is how the host's steps that
	// become do it, unless they say: one of BecomeMethods, "" for sudo.
	Become       bool
	BecomeUser   string
	BecomeMethod string
	// ansible says that Ansible's variables (ansible_host, ...) set the
	// connection fields, once group_vars/ and host_vars/ are read.
	ansible bool
}

// Local reports whether the host is the controller itself.
func (h *Host) Local() bool { return h.Connection == "local" }

// Group is a named set of hosts and child groups, with variables.
type Group struct {
	Name     string
	Hosts    []string
	Children []string
	Vars     map[string]tmpl.Var
	FileVars map[string]tmpl.Var // from group_vars/
	Pos      decode.Pos
	// HostsAt and ChildrenAt say where a file lists each host and child
	// group, so that a name defined nowhere is reported where it is written.
	HostsAt    map[string]decode.Pos
	ChildrenAt map[string]decode.Pos
}

// Inventory is a resolved set of hosts and groups.
type Inventory struct {
	hosts  map[string]*Host
	order  []string // host names in definition order
	groups map[string]*Group
	// memberOf maps a host to every group it is in, directly or through
	// children, ordered from the least to the most specific.
	memberOf map[string][]string
	warnings []*decode.Error
}

// New builds an inventory and checks it: names usable in host patterns,
// groups that refer to known hosts and groups without cycles. Every problem
// is reported, each where a file defines it when one does.
func New(hosts []*Host, groups []*Group) (*Inventory, error) {
	inv := &Inventory{hosts: map[string]*Host{}, groups: map[string]*Group{}}
	var errs decode.List
	for _, h := range hosts {
		if msg := badName(h.Name); msg != "" {
			errs.Add(decode.Errorf(h.Pos, "host name %s%s", decode.Quote(h.Name), msg))
			continue
		}
		if prev, dup := inv.hosts[h.Name]; dup {
			errs.Add(decode.Errorf(h.Pos, "host %s is defined twice%s", decode.Quote(h.Name), also(prev.Pos)))
			continue
		}
		inv.hosts[h.Name] = h
		inv.order = append(inv.order, h.Name)
	}
	for _, g := range groups {
		if msg := badName(g.Name); msg != "" && g.Name != "all" {
			errs.Add(decode.Errorf(g.Pos, "group name %s%s", decode.Quote(g.Name), msg))
			continue
		}
		if prev, dup := inv.groups[g.Name]; dup {
			errs.Add(decode.Errorf(g.Pos, "group %s is defined twice%s", decode.Quote(g.Name), also(prev.Pos)))
			continue
		}
		if h, clash := inv.hosts[g.Name]; clash {
			where := ""
			if h.Pos.File != "" {
				where = " (" + h.Pos.String() + ")"
			}
			errs.Add(decode.Errorf(g.Pos, "%s is both a host%s and a group: rename one", decode.Quote(g.Name), where))
			continue
		}
		inv.groups[g.Name] = g
	}
	if errs.Len() == 0 {
		inv.resolve(&errs)
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return inv, nil
}

func also(pos decode.Pos) string {
	if pos.File == "" {
		return ""
	}
	return ": also at " + pos.String()
}

// badName says why name cannot name a host or a group, or returns "". Host
// patterns give ':', ',', '!', '&' and glob characters their own meaning,
// and "all" means every host.
func badName(name string) string {
	if name == "all" {
		return " means every host: pick another name"
	}
	ok := name != ""
	for _, r := range name {
		ok = ok && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_')
	}
	if ok {
		return ""
	}
	return ": use letters, digits, '.', '-' and '_' (host patterns read ':', ',', '!', '&', '*', '?', '[' and spaces their own way); set the address with address:"
}

func (inv *Inventory) resolve(errs *decode.List) {
	names := slices.Sorted(maps.Keys(inv.groups))
	hostNames := slices.Clone(inv.order)
	for _, name := range names {
		g := inv.groups[name]
		for _, h := range g.Hosts {
			if _, ok := inv.hosts[h]; !ok {
				errs.Add(decode.Errorf(at(g.HostsAt, h, g.Pos), "group %s lists host %s, which is not defined%s", decode.Quote(g.Name), decode.Quote(h), decode.Suggest(h, hostNames)))
			}
		}
		for _, c := range g.Children {
			if _, ok := inv.groups[c]; !ok {
				errs.Add(decode.Errorf(at(g.ChildrenAt, c, g.Pos), "group %s lists child group %s, which is not defined%s", decode.Quote(g.Name), decode.Quote(c), decode.Suggest(c, names)))
			}
		}
	}
	if errs.Len() > 0 {
		return
	}
	depth := map[string]int{}
	var walk func(name string, stack []string, from decode.Pos) bool
	walk = func(name string, stack []string, from decode.Pos) bool {
		if i := slices.Index(stack, name); i >= 0 {
			cycle := append(slices.Clone(stack[i:]), name)
			errs.Add(decode.Errorf(from, "group cycle: %s: a group cannot contain itself", strings.Join(cycle, " -> ")))
			return false
		}
		d := len(stack) + 1
		if depth[name] >= d {
			return true
		}
		depth[name] = d
		g := inv.groups[name]
		for _, c := range g.Children {
			if !walk(c, append(stack, name), at(g.ChildrenAt, c, g.Pos)) {
				return false
			}
		}
		return true
	}
	for _, name := range names {
		if !walk(name, nil, inv.groups[name].Pos) {
			return
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
}

// at is where name is written in a group's list, or the group itself.
func at(where map[string]decode.Pos, name string, group decode.Pos) decode.Pos {
	if p, ok := where[name]; ok {
		return p
	}
	return group
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
// first, in Ansible's order: the inventory files' own, for the "all"
// group, then its groups from least to most specific; then group_vars/ in
// the same order; then the host's own, and host_vars/.
func (inv *Inventory) VarLayers(host string) []map[string]tmpl.Var {
	var out []map[string]tmpl.Var
	groups := func(vars func(*Group) map[string]tmpl.Var) {
		if all, ok := inv.groups["all"]; ok {
			out = append(out, vars(all))
		}
		for _, g := range inv.memberOf[host] {
			if g != "all" {
				out = append(out, vars(inv.groups[g]))
			}
		}
	}
	groups(func(g *Group) map[string]tmpl.Var { return g.Vars })
	groups(func(g *Group) map[string]tmpl.Var { return g.FileVars })
	if h, ok := inv.hosts[host]; ok {
		out = append(out, h.Vars, h.FileVars)
	}
	return out
}

// Warnings are what loading found odd but not wrong: group_vars/ and
// host_vars/ for names the inventory does not have.
func (inv *Inventory) Warnings() []*decode.Error { return inv.warnings }
