package runbook

import (
	"errors"
	"maps"
	"os"
	"path/filepath"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
	"gopkg.in/yaml.v3"
)

// withVarsFiles returns vars with the variables of the files of a
// `vars_files:` list over them, later files winning, as a play's
// vars_files win over its vars in Ansible. list is the decoded value of
// key vars_files in mapping n of file; paths are relative to dir, the
// runbook's directory, and cannot be templates: files are read as the
// runbook is loaded, before any variable has a value.
func (l *loader) withVarsFiles(file, dir string, n *yaml.Node, list []string, vars map[string]tmpl.Var) map[string]tmpl.Var {
	if len(list) == 0 {
		return vars
	}
	at := hostsEntries(file, decode.Value(n, "vars_files"), list).at
	out := maps.Clone(vars)
	if out == nil {
		out = map[string]tmpl.Var{}
	}
	for i, p := range list {
		if decode.HasTemplate(p) {
			l.errs.Add(decode.Errorf(at[i], "vars_files: %s: a path cannot be a template (files are read before variables have values): name the file, or pass it with -e @FILE", decode.Quote(p)))
			continue
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		maps.Copy(out, l.varsFile(at[i], p))
	}
	return out
}

// varsFile reads one vars file, once per load however many runbooks list
// it, so that its mistakes are reported once.
func (l *loader) varsFile(from decode.Pos, path string) map[string]tmpl.Var {
	abs, err := filepath.Abs(path)
	if err != nil {
		l.errs.Add(decode.Errorf(from, "vars_files: %s: %w", path, err))
		return nil
	}
	if vars, ok := l.varsFiles[abs]; ok {
		return vars
	}
	l.varsFiles[abs] = nil
	data, err := decode.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		l.errs.Add(decode.Errorf(from, "vars_files: %s: no such file (vars_files are relative to the runbook's directory)", path))
		return nil
	case err != nil:
		l.errs.Add(decode.Errorf(from, "vars_files: %w", err))
		return nil
	}
	vars, err := tmpl.ParseVarsFile(path, data)
	if err != nil {
		l.errs.Add(err)
		return nil
	}
	l.varsFiles[abs] = vars
	return vars
}
