package engine

import (
	"fmt"
	"maps"

	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
	"gopkg.in/yaml.v3"
)

// vars resolves the variables a step sees on a host. Lowest precedence
// first: the runbook's (imported runbooks' defaults under their parents'),
// the inventory's groups, the inventory's host, -e, and values registered
// by earlier steps on the host. Registered values are data: they are not
// rendered again as templates.
func (e *Engine) vars(sc scope, h *inventory.Host, hs *hostState) (map[string]any, error) {
	inv := e.inventory()
	merged := map[string]tmpl.Var{}
	layers := append([]map[string]tmpl.Var{}, sc.layers...)
	layers = append(layers, inv.VarLayers(h.Name)...)
	layers = append(layers, e.opts.ExtraVars)
	for _, l := range layers {
		maps.Copy(merged, l)
	}
	base := map[string]any{
		"host":       hostInfo(inv, h),
		"groups":     inv.GroupMembers(),
		"hostvars":   e.hostVars(inv),
		"check_mode": e.opts.Check,
	}
	hs.factsMu.Lock()
	if hs.facts != nil {
		base["facts"] = hs.facts
	}
	hs.factsMu.Unlock()
	e.mu.Lock()
	for k, v := range hs.registered {
		delete(merged, k)
		base[k] = v
	}
	e.mu.Unlock()
	out, err := tmpl.Resolve(merged, base)
	if err != nil {
		return nil, fmt.Errorf("variables for %s: %w", h.Name, err)
	}
	for name, v := range merged {
		if v.Secret {
			e.redact.add(secretStrings(out[name])...)
		}
	}
	return out, nil
}

func hostInfo(inv *inventory.Inventory, h *inventory.Host) map[string]any {
	groups := inv.GroupsOf(h.Name)
	if groups == nil {
		groups = []string{}
	}
	return map[string]any{
		"name": h.Name, "address": h.Address, "port": h.Port, "user": h.User, "groups": groups,
	}
}

// hostVars is every host's connection details and inventory variables (as
// written, not rendered), for templates that need other hosts' addresses.
// It is built once per inventory.
func (e *Engine) hostVars(inv *inventory.Inventory) map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hostvars != nil {
		return e.hostvars
	}
	out := make(map[string]any, len(inv.Hosts()))
	for _, h := range inv.Hosts() {
		m := hostInfo(inv, h)
		for _, layer := range inv.VarLayers(h.Name) {
			for k, v := range layer {
				if !v.Secret {
					m[k] = v.Value
				}
			}
		}
		out[h.Name] = m
	}
	e.hostvars = out
	return out
}

// secretStrings lists the strings inside a secret value.
func secretStrings(v any) []string {
	var out []string
	switch x := v.(type) {
	case string:
		out = append(out, x)
	case []any:
		for _, item := range x {
			out = append(out, secretStrings(item)...)
		}
	case map[string]any:
		for _, item := range x {
			out = append(out, secretStrings(item)...)
		}
	case nil:
	default:
		out = append(out, fmt.Sprint(x))
	}
	return out
}

// secretScalars lists the parameter values tagged !secret.
func secretScalars(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	var out []string
	if n.Kind == yaml.ScalarNode && n.Tag == "!secret" {
		out = append(out, n.Value)
	}
	for _, c := range n.Content {
		out = append(out, secretScalars(c)...)
	}
	return out
}
