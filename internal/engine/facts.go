package engine

import (
	"context"
	"strings"

	"github.com/runbookdev/runbook/internal/facts"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/inventory"
	"gopkg.in/yaml.v3"
)

// needsFacts reports whether a step reads .facts: through its own
// templates, or through any variable (then every step gathers them, once
// per host per run).
func (e *Engine) needsFacts(st *runbook.Step) bool {
	if e.varsUseFacts {
		return true
	}
	if v, ok := e.stepFacts.Load(st); ok {
		return v.(bool)
	}
	uses := mentionsFacts(st.When) || mentionsFacts(st.Until) || nodeMentionsFacts(st.With) ||
		mentionsFacts(st.DelegateTo) || st.Loop != nil && nodeMentionsFacts(st.Loop.Node)
	e.stepFacts.Store(st, uses)
	return uses
}

// facts gathers a host's facts on first use and keeps them for the run.
func (e *Engine) facts(ctx context.Context, h *inventory.Host, hs *hostState, conn transport.Conn) (map[string]any, error) {
	hs.factsMu.Lock()
	defer hs.factsMu.Unlock()
	if hs.facts != nil {
		return hs.facts, nil
	}
	f, err := facts.Gather(ctx, conn)
	if err != nil {
		return nil, err
	}
	hs.facts = f
	e.live.setFacts(h.Name, f)
	return f, nil
}

func mentionsFacts(s string) bool { return strings.Contains(s, ".facts") }

func nodeMentionsFacts(n *yaml.Node) bool {
	if n == nil {
		return false
	}
	if n.Kind == yaml.ScalarNode {
		return mentionsFacts(n.Value)
	}
	for _, c := range n.Content {
		if nodeMentionsFacts(c) {
			return true
		}
	}
	return false
}

// anyVarUsesFacts looks through every variable a run can see.
func anyVarUsesFacts(rb *runbook.Runbook, inv *inventory.Inventory, extra map[string]tmpl.Var) bool {
	seen := map[*runbook.Runbook]bool{}
	var walk func(*runbook.Runbook) bool
	walk = func(rb *runbook.Runbook) bool {
		if seen[rb] {
			return false
		}
		seen[rb] = true
		if layerUsesFacts(rb.Vars) {
			return true
		}
		var steps func([]*runbook.Step) bool
		steps = func(list []*runbook.Step) bool {
			for _, st := range list {
				if st.Import != nil && (layerUsesFacts(st.ImportVars) || walk(st.Import)) {
					return true
				}
				if st.IsBlock() && (layerUsesFacts(st.BlockVars) || steps(st.Block) || steps(st.Rescue) || steps(st.Always)) {
					return true
				}
			}
			return false
		}
		if steps(rb.Steps) {
			return true
		}
		return false
	}
	if walk(rb) || layerUsesFacts(extra) {
		return true
	}
	for _, h := range inv.Hosts() {
		for _, l := range inv.VarLayers(h.Name) {
			if layerUsesFacts(l) {
				return true
			}
		}
	}
	return false
}

func layerUsesFacts(l map[string]tmpl.Var) bool {
	for _, v := range l {
		found := false
		tmpl.WalkStrings(v.Value, func(s string) { found = found || mentionsFacts(s) })
		if found {
			return true
		}
	}
	return false
}
