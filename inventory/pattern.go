package inventory

import (
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/runbookdev/runbook/internal/decode"
)

// LocalHost is the controller, matched by the pattern "local" when the
// inventory defines no host of that name.
var LocalHost = &Host{Name: "local", Connection: "local"}

// Term is one part of a host pattern: a name or glob, taken as a union,
// an intersection (&) or an exclusion (!).
type Term struct {
	Op   string // "", "&" or "!"
	Name string
}

func (t Term) String() string { return t.Op + t.Name }

// ParsePattern reads a host pattern as Ansible writes them: names of hosts
// or groups, all, local, globs such as web*, joined by commas or colons; a
// term starting with & intersects, one starting with ! excludes. A pattern
// that could only ever select nothing is an error.
func ParsePattern(p string) ([]Term, error) {
	if strings.TrimSpace(p) == "" {
		return nil, errors.New("empty pattern: name a host, a group, all or local")
	}
	var terms []Term
	union := false
	for _, s := range strings.Split(strings.ReplaceAll(p, ",", ":"), ":") {
		s = strings.TrimSpace(s)
		t := Term{Name: s}
		if s != "" && (s[0] == '&' || s[0] == '!') {
			t = Term{Op: s[:1], Name: strings.TrimSpace(s[1:])}
			if t.Name == "" {
				return nil, fmt.Errorf("%s needs a host or group after it", decode.Quote(t.Op))
			}
		}
		if s == "" {
			return nil, errors.New("an empty term: remove the extra ',' or ':'")
		}
		if !termName(t.Name) {
			return nil, fmt.Errorf("%s is not a host or group name, nor a glob: names are letters, digits, '.', '-' and '_'", decode.Quote(t.Name))
		}
		union = union || t.Op == ""
		terms = append(terms, t)
	}
	if !union {
		return nil, fmt.Errorf("only exclusions and intersections: nothing to take them from; write %s", decode.Quote("all:"+p))
	}
	return terms, nil
}

// termName accepts what badName accepts, and glob characters.
func termName(s string) bool {
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune(".-_*?[]", r)) {
			return false
		}
	}
	return s != ""
}

// Unmatched is a term of a pattern that selects no host.
type Unmatched struct {
	Index   int // of the pattern, in the list given to Match
	Pattern string
	Term    Term
	hint    string
	empty   bool // a group with no hosts
}

func (u Unmatched) String() string {
	if u.Term.Name == "all" || u.Term.Name == "*" {
		return fmt.Sprintf("%s: the inventory has no hosts", decode.Quote(u.Pattern))
	}
	if u.empty {
		return fmt.Sprintf("%s: group %s has no hosts", decode.Quote(u.Pattern), decode.Quote(u.Term.Name))
	}
	if strings.ContainsAny(u.Term.Name, "*?[") {
		return fmt.Sprintf("%s: no host or group matches %s", decode.Quote(u.Pattern), decode.Quote(u.Term.Name))
	}
	return fmt.Sprintf("%s: no host or group %s%s", decode.Quote(u.Pattern), decode.Quote(u.Term.Name), u.hint)
}

// Match resolves host patterns to hosts, in inventory order, and reports
// every term that matches nothing, exclusions and intersections included:
// a typo in all:!dbb would otherwise select the hosts it meant to leave out.
func (inv *Inventory) Match(patterns []string) (hosts []*Host, unmatched []Unmatched, err error) {
	selected := map[string]bool{}
	var intersect, exclude [][]string
	for i, p := range patterns {
		terms, err := ParsePattern(p)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", decode.Quote(p), err)
		}
		for _, t := range terms {
			names := inv.term(t.Name)
			if len(names) == 0 {
				_, group := inv.groups[t.Name]
				unmatched = append(unmatched, Unmatched{Index: i, Pattern: p, Term: t, hint: decode.Suggest(t.Name, inv.names()), empty: group})
			}
			switch t.Op {
			case "":
				for _, n := range names {
					selected[n] = true
				}
			case "&":
				intersect = append(intersect, names)
			case "!":
				exclude = append(exclude, names)
			}
		}
	}
	// As in Ansible, whatever the order: unions, then intersections, then
	// exclusions.
	for _, names := range intersect {
		for n := range selected {
			selected[n] = slices.Contains(names, n)
		}
	}
	for _, names := range exclude {
		for _, n := range names {
			delete(selected, n)
		}
	}
	for _, name := range inv.order {
		if selected[name] {
			hosts = append(hosts, inv.hosts[name])
		}
	}
	if _, defined := inv.hosts[LocalHost.Name]; !defined && selected[LocalHost.Name] {
		hosts = append(hosts, LocalHost)
	}
	return hosts, unmatched, nil
}

// names is every name a pattern can use, for suggestions.
func (inv *Inventory) names() []string {
	return append(append([]string{"all", "local"}, inv.order...), slices.Sorted(maps.Keys(inv.groups))...)
}

// term resolves one pattern term to host names; "local" is the controller
// unless a host has that name.
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
	if t == LocalHost.Name {
		return []string{t}
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
