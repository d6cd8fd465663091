package runbook

import (
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/inventory"
	"gopkg.in/yaml.v3"
)

// become reads become, become_user and become_method: naming a user or a
// method asks to become, as become: true does.
func (l *loader) become(s *Step, raw *rawStep, n *yaml.Node) {
	s.Become = raw.Become || raw.BecomeUser != "" || raw.BecomeMethod != ""
	s.BecomeUser, s.BecomeMethod = raw.BecomeUser, raw.BecomeMethod
	if raw.BecomeMethod != "" {
		if err := inventory.CheckBecomeMethod(raw.BecomeMethod); err != nil {
			l.errs.Add(decode.Errorf(keyPos(s.In.File, n, "become_method"), "become_method %v", err))
		}
	}
}
