package tmpl

import (
	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// ParseVarsFile reads data, the content of a vars file (vars_files, -e
// @file, group_vars/, host_vars/): the one loader for them all, so that a
// file means the same wherever it is named. Its !encrypted values are
// decrypted here, on the controller, and are secret (agevars.Open).
func ParseVarsFile(file string, data []byte) (map[string]Var, error) {
	doc, err := decode.ParseAllowing(file, data, agevars.Tag)
	if err != nil {
		return nil, err
	}
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 0 {
		return map[string]Var{}, nil
	}
	if err := agevars.Open(file, doc); err != nil {
		return nil, err
	}
	return ParseVars(file, doc)
}
