package tmpl

import (
	"fmt"
	"gopkg.in/yaml.v3"
	"maps"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
)

// Var is a variable's raw value and where it was defined.
type Var struct {
	Value  any
	Pos    decode.Pos
	Secret bool
}

// Resolve renders the templates inside vars, each against the others, in
// the order their references require; base holds values (such as host
// facts) that templates can read but that are not themselves rendered. A
// variable that refers to itself, directly or not, is an error. When base
// carries a Tracker (see Taint.Track), secret variables and what is derived from
// them are added to its set.
func Resolve(vars map[string]Var, base map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(vars)+len(base))
	maps.Copy(out, base)
	r := resolver{vars: vars, out: out, state: map[string]int{}}
	var errs decode.List
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		errs.Add(r.resolve(name, nil))
	}
	return out, errs.Err()
}

type resolver struct {
	vars  map[string]Var
	out   map[string]any
	state map[string]int // 1 resolving, 2 done
}

func (r *resolver) resolve(name string, chain []string) error {
	switch r.state[name] {
	case 2:
		return nil
	case 1:
		v := r.vars[name]
		return decode.Errorf(v.Pos, "variable %s refers to itself: %s", decode.Quote(name), strings.Join(append(chain, name), " -> "))
	}
	r.state[name] = 1
	v := r.vars[name]
	for _, dep := range refs(v.Value) {
		if _, ok := r.vars[dep]; !ok {
			continue
		}
		if err := r.resolve(dep, append(chain, name)); err != nil {
			r.state[name] = 2
			return err
		}
	}
	val, err := renderValue(v.Pos, v.Value, r.out)
	if err != nil {
		err = fmt.Errorf("variable %s: %w", decode.Quote(name), err)
	}
	if s, ok := v.Value.(string); ok && err == nil && decode.HasTemplate(s) && (val == "true" || val == "false") {
		// A condition computed by a template is a boolean, as a rendered
		// parameter is typed again: the text "false" is true to `if`.
		val = val == "true"
	}
	if v.Secret {
		// Before the variables that use it are rendered, so that what
		// they make of it is secret too.
		trackerOf(r.out).addSecret(val)
	}
	r.out[name] = val
	r.state[name] = 2
	return err
}

// renderValue renders every string inside v.
func renderValue(pos decode.Pos, v any, data map[string]any) (any, error) {
	switch x := v.(type) {
	case string:
		return Render(pos, x, data)
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			r, err := renderValue(pos, item, data)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			r, err := renderValue(pos, item, data)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

// WalkStrings calls fn on every string inside v (lists and maps included).
func WalkStrings(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []any:
		for _, item := range x {
			WalkStrings(item, fn)
		}
	case map[string]any:
		for _, item := range x {
			WalkStrings(item, fn)
		}
	}
}

// refs lists the top-level names (.name) that the templates in v read.
func refs(v any) []string {
	var out []string
	WalkStrings(v, func(s string) { out = append(out, Names(s)...) })
	return out
}

// builtinNames lets parse.Parse accept text/template's own functions.
var builtinNames = map[string]any{
	"and": true, "or": true, "not": true, "len": true, "index": true, "slice": true,
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true,
	"print": true, "println": true, "html": true, "js": true, "urlquery": true, "call": true,
}

// Reserved names are set by runbook itself and cannot be used as variables.
var Reserved = []string{"host", "groups", "hostvars", "facts", "result", "check_mode"}

// IsReserved reports whether name is set by runbook itself.
func IsReserved(name string) bool {
	for _, r := range Reserved {
		if r == name {
			return true
		}
	}
	return false
}

// ValidName reports whether name can be used as a variable in templates.
func ValidName(name string) bool {
	if name == "" {
		return false
	}
	for i, r := range name {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// ParseVars reads a `vars:` mapping. A value tagged !secret is never shown
// in output.
func ParseVars(file string, n *yaml.Node) (map[string]Var, error) {
	out := map[string]Var{}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
		if n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" {
			// Not quoted: the file may be a key or a token given by mistake.
			return nil, decode.Errorf(decode.At(file, n), "vars: want a mapping of names to values, and the file holds a single value instead: is it the right file?")
		}
	}
	if n == nil || n.Kind == 0 || n.ShortTag() == "!!null" {
		return out, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, decode.Errorf(decode.At(file, n), "vars: want a mapping of names to values, got %s", decode.NodeKind(n))
	}
	pairs, err := decode.Pairs(file, n)
	var errs decode.List
	errs.Add(err)
	for _, kv := range pairs {
		kn, vn := kv[0], kv[1]
		pos := decode.At(file, kn)
		switch {
		case !ValidName(kn.Value):
			errs.Add(decode.Errorf(pos, "variable name %s: use letters, digits and _ only, starting with a letter or _", decode.Quote(kn.Value)))
			continue
		case IsReserved(kn.Value):
			errs.Add(decode.Errorf(pos, "variable name %s is reserved (runbook sets %s)", decode.Quote(kn.Value), strings.Join(Reserved, ", ")))
			continue
		}
		if _, dup := out[kn.Value]; dup {
			errs.Add(decode.Errorf(pos, "variable %s is given twice", decode.Quote(kn.Value)))
			continue
		}
		v := Var{Pos: decode.At(file, vn)}
		node := vn
		if vn.Tag == "!secret" {
			v.Secret = true
			c := *vn
			c.Tag = "!!str"
			node = &c
		}
		if err := node.Decode(&v.Value); err != nil {
			errs.Add(decode.Errorf(v.Pos, "variable %s: %w", decode.Quote(kn.Value), err))
			continue
		}
		if err := checkTemplates(v.Pos, v.Value); err != nil {
			if v.Secret {
				// The parser's message quotes pieces of the template.
				err = decode.Errorf(v.Pos, "variable %s: %s", decode.Quote(kn.Value), secretSyntax)
			}
			errs.Add(err)
		}
		out[kn.Value] = v
	}
	return out, errs.Err()
}

func checkTemplates(pos decode.Pos, v any) error {
	switch x := v.(type) {
	case string:
		if decode.HasTemplate(x) {
			_, err := Parse(pos, x)
			return err
		}
	case []any:
		for _, item := range x {
			if err := checkTemplates(pos, item); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, item := range x {
			if err := checkTemplates(pos, item); err != nil {
				return err
			}
		}
	}
	return nil
}
