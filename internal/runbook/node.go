package runbook

import (
	"github.com/runbookdev/runbook/internal/tmpl"
	"gopkg.in/yaml.v3"
)

// FromNode builds a runbook from doc, a YAML document made in memory (the
// one step of `runbook run`), checked as Load checks a file. file names
// it in errors; relative paths are relative to dir. It may not import.
func FromNode(file, dir string, doc *yaml.Node) (*Runbook, error) {
	l := &loader{cache: map[string]*Runbook{}, varsFiles: map[string]map[string]tmpl.Var{}}
	rb := &Runbook{File: file, Dir: dir}
	l.parseDoc(rb, doc, nil)
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	return rb, nil
}
