package tmpl

import (
	"io"
	"maps"
	"text/template/parse"

	"github.com/runbookdev/runbook/internal/decode"
)

// valueFunc receives the value of a template that is a single action. It
// is not a name templates can call: the templates given are parsed
// without it.
const valueFunc = "runbook_value"

// Value renders s with data as Render does, except that a template made of
// one action alone, such as "{{ .users }}", "{{ .groups.web }}" or
// `{{ split "," .csv }}`, gives the action's value itself rather than its
// text: a list stays a list. Text around the action makes it text again.
func Value(pos decode.Pos, s string, data map[string]any) (any, error) {
	pipe, ok := loneAction(s)
	if !ok {
		return Render(pos, s, data)
	}
	tr := trackerOf(data)
	var got any
	took := false
	fm := maps.Clone(tr.renderFuncs(&took))
	fm[valueFunc] = func(v any) string {
		got = v
		return ""
	}
	t, err := parseWith(pos, "{{ "+valueFunc+" ("+pipe+") }}", fm)
	if err != nil {
		return nil, err
	}
	if err := t.Execute(io.Discard, data); err != nil {
		return nil, decode.Errorf(pos, "%s", cleanExecError(err))
	}
	tr.rendered(t.Tree, data, got, true, took)
	return got, nil
}

// loneAction returns the pipeline of s when s is a single action that
// declares no variable, such as "{{ .users }}".
func loneAction(s string) (string, bool) {
	trees, err := parse.Parse("t", s, "", "", funcs, builtinNames)
	if err != nil || trees["t"] == nil || len(trees) > 1 {
		return "", false
	}
	root := trees["t"].Root
	if len(root.Nodes) != 1 {
		return "", false
	}
	a, ok := root.Nodes[0].(*parse.ActionNode)
	if !ok || len(a.Pipe.Decl) > 0 {
		return "", false
	}
	return a.Pipe.String(), true
}
