package tmpl

import (
	"text/template/parse"
)

// readsSecret reports whether rendering tree with data reads a value that
// holds one of the Tracker's secrets. What a rendering reads is known from
// the template itself: every way into data starts at the top, from dot
// (.a.b, or . alone) where dot is still the data, or from $ (which always
// is). Reads relative to a dot that range or with moved are reads inside a
// value already counted where it was taken. A path is followed through
// mappings as far as it goes; where it cannot be followed (a method, a
// list), the whole value reached so far counts. `index` is followed too:
// `(index $.hostvars $h).address` reads the address of every host (the
// key is not known before the run), not all of .hostvars, which holds the
// secrets of the inventory.
//
// What only decides a condition is not a read: `{{ if .tls_key }}https
// {{ end }}`, `eq .token ""` tell whether a secret is set or is some
// value, and hiding every "https" of a run for it would hide more than it
// protects.
//
// A call of a function that makes secrets (secretMakers), where it is
// not only a condition, reads a secret when one of them gave one (took;
// in check mode one gives a placeholder instead, which is no secret).
func (t *Tracker) readsSecret(tree *parse.Tree, data map[string]any, took bool) bool {
	if t == nil || tree == nil || tree.Root == nil {
		return false
	}
	found := false
	readPaths(tree.Root, true, func(path []string) bool {
		if len(path) == 1 && path[0] == callKey {
			found = took
			return !found
		}
		lookup(data, path, func(v any) bool {
			found = t.set.HoldsAny(v)
			return !found
		})
		return !found
	})
	return found
}

// anyKey stands in a path for an index key known only when rendering.
const anyKey = "\x00any"

// callKey is the path of a call of a function that makes secrets.
const callKey = "\x00call"

// lookup follows path from data through mappings, and calls fn with each
// value it reaches (one per entry where a key is anyKey), until fn
// returns false.
func lookup(v any, path []string, fn func(any) bool) bool {
	for i, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return fn(v)
		}
		if k == anyKey {
			for _, item := range m {
				if !lookup(item, path[i+1:], fn) {
					return false
				}
			}
			return true
		}
		if v, ok = m[k]; !ok {
			return true
		}
	}
	return fn(v)
}

// readPaths calls fn with every path into the data that n reads, until fn
// returns false. atRoot says whether dot is the data.
func readPaths(n parse.Node, atRoot bool, fn func([]string) bool) bool {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return true
		}
		for _, c := range x.Nodes {
			if !readPaths(c, atRoot, fn) {
				return false
			}
		}
	case *parse.ActionNode:
		return readPaths(x.Pipe, atRoot, fn)
	case *parse.PipeNode:
		if x == nil {
			return true
		}
		for _, c := range x.Cmds {
			if !readPaths(c, atRoot, fn) {
				return false
			}
		}
	case *parse.CommandNode:
		if id, ok := x.Args[0].(*parse.IdentifierNode); ok && predicates[id.Ident] && !declares(x) {
			return true
		}
		if base, keys, ok := indexCall(x, atRoot); ok {
			for _, k := range keys {
				if !readPaths(k, atRoot, fn) {
					return false
				}
			}
			return fn(base)
		}
		if id, ok := x.Args[0].(*parse.IdentifierNode); ok && secretMakers[id.Ident] && !fn([]string{callKey}) {
			return false
		}
		for _, a := range x.Args {
			if !readPaths(a, atRoot, fn) {
				return false
			}
		}
	case *parse.DotNode:
		if atRoot {
			return fn(nil)
		}
	case *parse.FieldNode:
		if atRoot {
			return fn(x.Ident)
		}
	case *parse.VariableNode:
		if x.Ident[0] == "$" {
			return fn(x.Ident[1:])
		}
	case *parse.ChainNode:
		// (index $.hostvars $h).address
		if p, ok := x.Node.(*parse.PipeNode); ok && len(p.Decl) == 0 && len(p.Cmds) == 1 {
			if base, keys, ok := indexCall(p.Cmds[0], atRoot); ok {
				for _, k := range keys {
					if !readPaths(k, atRoot, fn) {
						return false
					}
				}
				return fn(append(base, x.Field...))
			}
		}
		return readPaths(x.Node, atRoot, fn)
	case *parse.IfNode:
		if declares(x.Pipe) { // {{ if $v := .token }}{{ $v }}
			if !readPaths(x.Pipe, atRoot, fn) {
				return false
			}
		}
		return readPaths(x.List, atRoot, fn) && readPaths(x.ElseList, atRoot, fn)
	case *parse.RangeNode:
		return readPaths(x.Pipe, atRoot, fn) && readPaths(x.List, false, fn) && readPaths(x.ElseList, atRoot, fn)
	case *parse.WithNode:
		return readPaths(x.Pipe, atRoot, fn) && readPaths(x.List, false, fn) && readPaths(x.ElseList, atRoot, fn)
	case *parse.TemplateNode:
		return readPaths(x.Pipe, atRoot, fn)
	}
	return true
}

// indexCall reports whether c is `index ITEM KEY...` with ITEM a path
// into the data, and returns the path through the keys (anyKey for those
// not written as strings) and the keys' nodes, which may read data too.
func indexCall(c *parse.CommandNode, atRoot bool) ([]string, []parse.Node, bool) {
	if len(c.Args) < 2 {
		return nil, nil, false
	}
	if id, ok := c.Args[0].(*parse.IdentifierNode); !ok || id.Ident != "index" {
		return nil, nil, false
	}
	var base []string
	switch item := c.Args[1].(type) {
	case *parse.FieldNode:
		if !atRoot {
			return nil, nil, false
		}
		base = item.Ident
	case *parse.VariableNode:
		if item.Ident[0] != "$" {
			return nil, nil, false
		}
		base = item.Ident[1:]
	default:
		return nil, nil, false
	}
	path := append([]string{}, base...)
	for _, k := range c.Args[2:] {
		if s, ok := k.(*parse.StringNode); ok {
			path = append(path, s.Text)
		} else {
			path = append(path, anyKey)
		}
	}
	return path, c.Args[2:], true
}

// predicates are the functions that give only true or false.
var predicates = map[string]bool{
	"eq": true, "ne": true, "lt": true, "le": true, "gt": true, "ge": true, "not": true,
	"contains": true, "hasPrefix": true, "hasSuffix": true, "has": true,
}

// declares reports whether n declares a variable anywhere: its value may
// be printed later, where it is read as $v.
func declares(n parse.Node) bool {
	switch x := n.(type) {
	case *parse.PipeNode:
		if x == nil {
			return false
		}
		if len(x.Decl) > 0 {
			return true
		}
		for _, c := range x.Cmds {
			if declares(c) {
				return true
			}
		}
	case *parse.CommandNode:
		for _, a := range x.Args {
			if declares(a) {
				return true
			}
		}
	case *parse.ChainNode:
		return declares(x.Node)
	}
	return false
}
