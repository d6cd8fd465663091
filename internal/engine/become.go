package engine

import (
	"fmt"

	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/inventory"
)

// escalation says how st becomes another user on the host its module runs
// against: h, or the delegate d. The step's become_user and become_method
// win over the host's ansible_become_user and ansible_become_method; a
// delegate runs as the step says, by the delegate's method. The password
// is the target host's become_password (or Ansible's names for it), else
// the one -K asked for: a host's password never goes to another host.
func (e *Engine) escalation(st *runbook.Step, h, d *inventory.Host, vars map[string]any) (transport.Escalation, error) {
	target, user := h, st.BecomeUser
	if d != nil {
		target = d
	} else if user == "" {
		user = h.BecomeUser
	}
	method := st.BecomeMethod
	if method == "" {
		method = target.BecomeMethod
	}
	if d != nil {
		var err error
		if vars, err = e.passwordVars(d); err != nil {
			return transport.Escalation{}, err
		}
	}
	pw, err := becomePassword(vars)
	if err != nil {
		return transport.Escalation{}, fmt.Errorf("become on %s: %w", target.Name, err)
	}
	if pw == "" {
		pw = e.opts.BecomePassword
	}
	// Whatever its origin (a plain variable of the runbook, -e), it is
	// hidden from now on wherever it might show.
	if !e.secrets.Holds(pw) {
		e.secrets.Add(pw)
	}
	return transport.Escalation{User: user, Method: method, Password: pw, Host: target.Name}, nil
}

// becomePassword is the first of the become password variables set.
func becomePassword(vars map[string]any) (string, error) {
	for _, name := range inventory.BecomePasswordVars {
		switch v := vars[name].(type) {
		case nil:
		case string:
			if v != "" {
				return v, nil
			}
		case int, int64, uint64, float64:
			return fmt.Sprint(v), nil
		default:
			return "", fmt.Errorf("%s must be a string, got a %T", name, v)
		}
	}
	return "", nil
}

// passwordVars are the variables that give delegate d its become password:
// its own inventory's and -e, not those of the host the step runs for.
func (e *Engine) passwordVars(d *inventory.Host) (map[string]any, error) {
	inv := e.inventory()
	merged := mergeLayers(append(inv.VarLayers(d.Name), e.opts.ExtraVars))
	only := map[string]tmpl.Var{}
	for _, name := range inventory.BecomePasswordVars {
		if v, ok := merged[name]; ok {
			only[name] = v
		}
	}
	if len(only) == 0 {
		return nil, nil
	}
	base := inventoryData(inv, d, e.liveHostVars(inv))
	e.taint.Track(base)
	vars, err := tmpl.Resolve(only, base)
	if err != nil {
		return nil, fmt.Errorf("become on %s: %w", d.Name, err)
	}
	return vars, nil
}
