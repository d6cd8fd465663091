package engine

import (
	"fmt"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
	"gopkg.in/yaml.v3"
)

// vars resolves the variables a step sees on a host. Lowest precedence
// first: the runbook's (imported runbooks' defaults under their parents'),
// the inventory's groups, the inventory's host, -e, and values registered
// by earlier steps on the host. Registered values are data: they are not
// rendered again as templates. Secrets met on the way are added to the
// run's set; the Tracker notes whether the step's renderings held one.
func (e *Engine) vars(sc scope, h *inventory.Host, hs *hostState) (map[string]any, *tmpl.Tracker, error) {
	inv := e.inventory()
	layers := append([]map[string]tmpl.Var{}, sc.layers...)
	layers = append(layers, inv.VarLayers(h.Name)...)
	merged := mergeLayers(append(layers, e.opts.ExtraVars))
	base := inventoryData(inv, h, e.liveHostVars(inv))
	base["check_mode"] = e.opts.Check
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
	if hs.failure != nil {
		delete(merged, "failure")
		base["failure"] = hs.failure
	}
	e.mu.Unlock()
	for k, v := range sc.items {
		delete(merged, k)
		base[k] = v
	}
	e.taint.Track(base)
	out, err := tmpl.Resolve(merged, base)
	if err != nil {
		return nil, nil, fmt.Errorf("variables for %s: %w", h.Name, err)
	}
	// The step's own Tracker: whether the step's renderings held a secret,
	// not whether some variable did.
	return out, e.taint.Track(out), nil
}

// inventoryData is what templates on h see of the inventory besides its
// variables: the host, the groups and every host's variables (hostvars).
func inventoryData(inv *inventory.Inventory, h *inventory.Host, hostvars map[string]any) map[string]any {
	return map[string]any{"host": hostInfo(inv, h), "groups": inv.GroupMembers(), "hostvars": hostvars}
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

// hostVars is hostVarsOf(inv), built once per inventory.
func (e *Engine) hostVars(inv *inventory.Inventory) map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hostvars == nil {
		e.hostvars = hostVarsOf(inv)
	}
	return e.hostvars
}

// hostVarsOf is every host's connection details and inventory variables
// (as written, not rendered; secret ones left out), for templates that
// need other hosts' addresses.
func hostVarsOf(inv *inventory.Inventory) map[string]any {
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
	return out
}

// InventoryVars is, by host, the variables the inventory gives each host,
// rendered as a step on the host sees them where the runbook, -e and
// registered values do not replace them: with the same host, groups and
// hostvars. Secret ones are secret.Mask; taint learns what derives from
// them, which may be in other variables.
func InventoryVars(inv *inventory.Inventory, taint *tmpl.Taint) (map[string]map[string]any, error) {
	hostvars := hostVarsOf(inv)
	out := map[string]map[string]any{}
	var errs decode.List
	for _, h := range inv.Hosts() {
		merged := mergeLayers(inv.VarLayers(h.Name))
		base := inventoryData(inv, h, hostvars)
		taint.Track(base)
		vars, err := tmpl.Resolve(merged, base)
		errs.Add(err)
		shown := map[string]any{}
		for k, v := range merged {
			shown[k] = vars[k]
			if v.Secret {
				shown[k] = secret.Mask
			}
		}
		out[h.Name] = shown
	}
	return out, errs.Err()
}

// holdsSecret reports whether a rendered parameter holds a secret,
// following aliases (rendered parameters keep them), each anchor once.
func (e *Engine) holdsSecret(n *yaml.Node) bool {
	return decode.AnyScalar(n, e.secrets.Holds)
}
