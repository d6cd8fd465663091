package runbook

import (
	"strings"
	"unicode"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
	"gopkg.in/yaml.v3"
)

// Loop is a step's `loop:`: the step, or an import's steps, run once per
// item.
type Loop struct {
	// Node is a list, a mapping (its items are {key, value}, in the order
	// written), or a template string that gives one of them.
	Node *yaml.Node
	Pos  decode.Pos
	// Var is the item's name in templates: loop_var, or item.
	Var    string
	VarPos decode.Pos
}

// DefaultLoopVar is what templates call a loop's item unless loop_var
// says otherwise.
const DefaultLoopVar = "item"

// loopKeys reads loop, loop_var, run_once and delegate_to. Whether the
// step may carry them (a block may not; an import only loop) is for the
// check of its keys to say.
func (l *loader) loopKeys(s *Step, raw *rawStep, n *yaml.Node) {
	file := s.In.File
	if ln := decode.Value(n, "loop"); ln != nil {
		s.Loop = &Loop{Node: &raw.Loop, Pos: decode.At(file, ln), Var: DefaultLoopVar, VarPos: decode.At(file, ln)}
		l.checkLoop(file, s.Loop)
		if raw.LoopVar != "" {
			s.Loop.Var, s.Loop.VarPos = raw.LoopVar, keyPos(file, n, "loop_var")
			if !tmpl.ValidName(raw.LoopVar) || tmpl.IsReserved(raw.LoopVar) {
				l.errs.Add(decode.Errorf(s.Loop.VarPos, "loop_var: %s is not a usable variable name (letters, digits, _; not one of %s)",
					decode.Quote(raw.LoopVar), strings.Join(tmpl.Reserved, ", ")))
			}
		}
	} else if decode.Value(n, "loop_var") != nil {
		l.errs.Add(decode.Errorf(keyPos(file, n, "loop_var"), "loop_var names the item of a loop, and the step has no loop: add loop: or remove loop_var"))
	}
	s.RunOnce = raw.RunOnce
	if decode.Value(n, "delegate_to") == nil {
		return
	}
	s.DelegateTo, s.DelegatePos = strings.TrimSpace(raw.DelegateTo), keyPos(file, n, "delegate_to")
	switch {
	case s.DelegateTo == "":
		l.errs.Add(decode.Errorf(s.DelegatePos, "delegate_to is empty: name an inventory host, or local for the controller"))
	case decode.HasTemplate(s.DelegateTo):
		if _, err := tmpl.Parse(s.DelegatePos, s.DelegateTo); err != nil {
			l.errs.Add(err)
		}
	case !hostName(s.DelegateTo):
		l.errs.Add(decode.Errorf(s.DelegatePos, "delegate_to: %s is not a host name: name one inventory host (not a pattern), local for the controller, or a template that gives one",
			decode.Quote(s.DelegateTo)))
	}
}

// checkLoop refuses a loop that cannot give a list: a plain string, a
// number, nothing.
func (l *loader) checkLoop(file string, lp *Loop) {
	n := lp.Node
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	switch {
	case n.Kind == yaml.SequenceNode:
	case n.Kind == yaml.MappingNode:
		if _, err := decode.Pairs(file, n); err != nil {
			l.errs.Add(err)
			return
		}
	case n.Kind == yaml.ScalarNode && n.ShortTag() != "!!null" && decode.HasTemplate(n.Value):
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		l.errs.Add(decode.Errorf(lp.Pos, "loop: is empty: give a list, a mapping, or a template that gives one such as \"{{ .users }}\""))
		return
	default:
		l.errs.Add(decode.Errorf(lp.Pos, "loop: want a list, a mapping, or a template that gives one such as \"{{ .users }}\", got %s", decode.NodeKind(n)))
		return
	}
	l.errs.Add(tmpl.CheckNode(file, lp.Node))
}

// hostName reports whether s can name one inventory host: what the
// inventory accepts as a name, without a pattern's globs.
func hostName(s string) bool {
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}
