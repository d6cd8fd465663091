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
// mappings as far as it goes; where it cannot be followed (an index, a
// method), the whole value reached so far counts: `index .creds "pass"`
// reads all of .creds.
func (t *Tracker) readsSecret(tree *parse.Tree, data map[string]any) bool {
	if t == nil || tree == nil || tree.Root == nil {
		return false
	}
	found := false
	readPaths(tree.Root, true, func(path []string) bool {
		found = t.set.HoldsAny(lookup(data, path))
		return !found
	})
	return found
}

// lookup follows path from data through mappings, and returns the value
// it reaches.
func lookup(data map[string]any, path []string) any {
	var v any = data
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return v
		}
		if v, ok = m[k]; !ok {
			return nil
		}
	}
	return v
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
		return readPaths(x.Node, atRoot, fn)
	case *parse.IfNode:
		return readPaths(x.Pipe, atRoot, fn) && readPaths(x.List, atRoot, fn) && readPaths(x.ElseList, atRoot, fn)
	case *parse.RangeNode:
		return readPaths(x.Pipe, atRoot, fn) && readPaths(x.List, false, fn) && readPaths(x.ElseList, atRoot, fn)
	case *parse.WithNode:
		return readPaths(x.Pipe, atRoot, fn) && readPaths(x.List, false, fn) && readPaths(x.ElseList, atRoot, fn)
	case *parse.TemplateNode:
		return readPaths(x.Pipe, atRoot, fn)
	}
	return true
}
