package runbook

import (
	"github.com/runbookdev/runbook/internal/tmpl"
	"gopkg.in/yaml.v3"
)

// checkResultControl reads changed_when and failed_when, conditions on the
// step's result (.result, and the step's register name) that decide its
// status.
func (l *loader) checkResultControl(s *Step, raw *rawStep, n *yaml.Node) {
	file := s.In.File
	s.ChangedWhen, s.ChangedWhenPos = raw.ChangedWhen, keyPos(file, n, "changed_when")
	s.FailedWhen, s.FailedWhenPos = raw.FailedWhen, keyPos(file, n, "failed_when")
	if s.ChangedWhen != "" {
		l.errs.Add(tmpl.CheckCond(s.ChangedWhenPos, s.ChangedWhen))
	}
	if s.FailedWhen != "" {
		l.errs.Add(tmpl.CheckCond(s.FailedWhenPos, s.FailedWhen))
	}
}
