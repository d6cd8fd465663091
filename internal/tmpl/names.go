package tmpl

import (
	"errors"
	"fmt"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/runbookdev/runbook/internal/decode"
)

// Names lists the variables a template reads from its data: the first part
// of every .name or $.name read where dot is the data itself (not inside
// range or with, where dot is something else). A template that does not
// parse reads nothing here: Parse reports it.
func Names(s string) []string { return names(s, false) }

// Reads is Names less the names read only in some cases (in the body of
// if, range or with, or past the first operand of and and or): those that
// every rendering reads.
func Reads(s string) []string { return names(s, true) }

func names(s string, sure bool) []string {
	if !decode.HasTemplate(s) {
		return nil
	}
	trees, err := parse.Parse("t", s, "", "", funcs, builtinNames)
	if err != nil || trees["t"] == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	readNames(trees["t"].Root, true, true, func(name string, _ parse.Pos, always bool) {
		if !seen[name] && (always || !sure) {
			seen[name] = true
			out = append(out, name)
		}
	})
	return out
}

// Ref is a variable a template file reads, and where: line and column in
// the file.
type Ref struct {
	Name      string
	Line, Col int
}

// FileRefs is Reads for a template file, with where each name is first read.
func FileRefs(text string) []Ref {
	trees, err := parse.Parse("f", text, "", "", funcs, builtinNames)
	if err != nil || trees["f"] == nil {
		return nil
	}
	var out []Ref
	seen := map[string]bool{}
	readNames(trees["f"].Root, true, true, func(name string, at parse.Pos, always bool) {
		if seen[name] || !always {
			return
		}
		seen[name] = true
		before := text[:min(int(at), len(text))]
		line := 1 + strings.Count(before, "\n")
		out = append(out, Ref{Name: name, Line: line, Col: 1 + len(before) - (strings.LastIndex(before, "\n") + 1)})
	})
	return out
}

// readNames walks n. atRoot says whether dot is the template's data; always
// whether n is evaluated whenever the template is rendered.
func readNames(n parse.Node, atRoot, always bool, fn func(string, parse.Pos, bool)) {
	switch x := n.(type) {
	case *parse.ListNode:
		if x == nil {
			return
		}
		for _, c := range x.Nodes {
			readNames(c, atRoot, always, fn)
		}
	case *parse.ActionNode:
		readNames(x.Pipe, atRoot, always, fn)
	case *parse.PipeNode:
		if x == nil {
			return
		}
		for _, c := range x.Cmds {
			readNames(c, atRoot, always, fn)
		}
	case *parse.CommandNode:
		// and and or stop at the first operand that decides.
		lazy := false
		if id, ok := x.Args[0].(*parse.IdentifierNode); ok && (id.Ident == "and" || id.Ident == "or") {
			lazy = true
		}
		for i, a := range x.Args {
			readNames(a, atRoot, always && !(lazy && i > 1), fn)
		}
	case *parse.FieldNode:
		if atRoot {
			fn(x.Ident[0], x.Pos, always)
		}
	case *parse.VariableNode:
		if x.Ident[0] == "$" && len(x.Ident) > 1 {
			fn(x.Ident[1], x.Pos, always)
		}
	case *parse.ChainNode:
		readNames(x.Node, atRoot, always, fn)
	case *parse.IfNode:
		readNames(x.Pipe, atRoot, always, fn)
		readNames(x.List, atRoot, false, fn)
		readNames(x.ElseList, atRoot, false, fn)
	case *parse.RangeNode:
		readNames(x.Pipe, atRoot, always, fn)
		readNames(x.List, false, false, fn)
		readNames(x.ElseList, atRoot, false, fn)
	case *parse.WithNode:
		readNames(x.Pipe, atRoot, always, fn)
		readNames(x.List, false, false, fn)
		readNames(x.ElseList, atRoot, false, fn)
	case *parse.TemplateNode:
		readNames(x.Pipe, atRoot, always, fn)
	}
}

// CondVar is the variable a condition reads, when it is nothing else
// (.debug, "{{ .debug }}").
func CondVar(expr string) (string, bool) {
	trees, err := parse.Parse("t", CondText(expr), "", "", funcs, builtinNames)
	if err != nil || trees["t"] == nil {
		return "", false
	}
	var action *parse.ActionNode
	for _, n := range trees["t"].Root.Nodes {
		switch x := n.(type) {
		case *parse.TextNode:
			if strings.TrimSpace(string(x.Text)) != "" {
				return "", false
			}
		case *parse.ActionNode:
			if action != nil {
				return "", false
			}
			action = x
		default:
			return "", false
		}
	}
	if action == nil || len(action.Pipe.Decl) > 0 || len(action.Pipe.Cmds) != 1 || len(action.Pipe.Cmds[0].Args) != 1 {
		return "", false
	}
	f, ok := action.Pipe.Cmds[0].Args[0].(*parse.FieldNode)
	if !ok || len(f.Ident) != 1 {
		return "", false
	}
	return f.Ident[0], true
}

// CondText is the template a condition stands for: a bare expression such
// as `eq .env "prod"` is one action.
func CondText(expr string) string {
	s := strings.TrimSpace(expr)
	if !decode.HasTemplate(s) {
		s = "{{ " + s + " }}"
	}
	return s
}

// notBoolean says why a parsed condition can never render as just true or
// false, or returns "" when it may.
func notBoolean(t *template.Template) string {
	var action *parse.ActionNode
	for _, n := range t.Tree.Root.Nodes {
		switch x := n.(type) {
		case *parse.TextNode:
			if strings.TrimSpace(string(x.Text)) != "" {
				return fmt.Sprintf("renders the text %s beside its actions", decode.Quote(strings.TrimSpace(string(x.Text))))
			}
		case *parse.ActionNode:
			if action != nil {
				return "renders one value after another"
			}
			action = x
		case *parse.CommentNode:
		default:
			return "" // if, range, with: they may well render true or false
		}
	}
	if action == nil {
		return "renders nothing"
	}
	if len(action.Pipe.Decl) > 0 {
		return "only sets a variable, which renders nothing"
	}
	cmd := action.Pipe.Cmds[len(action.Pipe.Cmds)-1]
	switch x := cmd.Args[0].(type) {
	case *parse.NumberNode:
		if len(cmd.Args) == 1 {
			return "is the number " + x.Text
		}
	case *parse.StringNode:
		if len(cmd.Args) == 1 && x.Text != "true" && x.Text != "false" {
			return fmt.Sprintf("is the string %s", x.Quoted)
		}
	case *parse.NilNode:
		return "is nil"
	case *parse.IdentifierNode:
		switch x.Ident {
		case "len":
			return "gives a number (len)"
		case "split":
			return "gives a list (split)"
		}
	}
	return ""
}

// CheckFile parses a template file, reporting syntax errors at their line.
func CheckFile(file, text string) error {
	_, err := template.New(file).Funcs(funcs).Option("missingkey=error").Parse(text)
	if err == nil {
		return nil
	}
	e := &decode.Error{}
	if !errors.As(fileError(file, err), &e) {
		return err
	}
	return decode.Errorf(e.Pos, "template syntax: %s", strings.ReplaceAll(e.Msg, file+":", "line "))
}
