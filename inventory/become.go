package inventory

import (
	"fmt"
	"maps"
	"slices"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
)

// BecomeMethods are the ways a step becomes another user (become_method,
// ansible_become_method).
var BecomeMethods = []string{"sudo", "su", "doas"}

// CheckBecomeMethod says what is wrong with a become method, if anything.
func CheckBecomeMethod(m string) error {
	if slices.Contains(BecomeMethods, m) {
		return nil
	}
	return fmt.Errorf("must be sudo, su or doas (runbook becomes no other way), got %s", decode.Quote(m))
}

// BecomePasswordVars are the variables that give a host's become password,
// the first set winning. They are secret wherever an inventory sets them,
// even written plainly: hidden in every output, as !secret values are.
var BecomePasswordVars = []string{"become_password", "ansible_become_password", "ansible_become_pass"}

// hideBecomePasswords marks the inventory's become passwords secret.
func hideBecomePasswords(inv *Inventory) {
	for name, h := range inv.hosts {
		c := *h
		c.Vars, c.FileVars = hidePasswords(h.Vars), hidePasswords(h.FileVars)
		inv.hosts[name] = &c
	}
	for _, g := range inv.groups {
		g.Vars, g.FileVars = hidePasswords(g.Vars), hidePasswords(g.FileVars)
	}
}

// hidePasswords returns vars with the become passwords secret: a copy
// when there are any to hide, as the maps may be a provider's.
func hidePasswords(vars map[string]tmpl.Var) map[string]tmpl.Var {
	out, cloned := vars, false
	for _, name := range BecomePasswordVars {
		if v, ok := vars[name]; ok && !v.Secret {
			if !cloned {
				out, cloned = maps.Clone(vars), true
			}
			v.Secret = true
			out[name] = v
		}
	}
	return out
}
