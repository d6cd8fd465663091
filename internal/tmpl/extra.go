package tmpl

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// ParseExtraVars reads -e values: key=value pairs, as many as given in one
// value as Ansible takes them (see SplitPairs; an unquoted value typed as
// in YAML, so count=3 is a number), an inline YAML or JSON mapping, or
// @file.
func ParseExtraVars(values []string) (map[string]Var, error) {
	out := map[string]Var{}
	var errs decode.List
	for i, v := range values {
		file := fmt.Sprintf("-e #%d", i+1)
		var data []byte
		switch {
		case strings.HasPrefix(v, "@"):
			file = v[1:]
			b, err := decode.ReadFile(file)
			if err != nil {
				errs.Add(fmt.Errorf("-e %s: %w", v, err))
				continue
			}
			vars, err := ParseVarsFile(file, b)
			errs.Add(err)
			maps.Copy(out, vars)
			continue
		case strings.HasPrefix(strings.TrimSpace(v), "{"):
			data = []byte(v)
		default:
			pairs, err := SplitPairs(v)
			if k, ok := secretPair(pairs); ok {
				// Not a tag here: it would be the string "!secret ...",
				// shown as is. Refused before any error quotes it.
				errs.Add(secretInArgv(k))
				continue
			}
			if err != nil {
				errs.Add(fmt.Errorf("-e %s: %w%s", decode.Quote(v), err, wantPairHint(err)))
				continue
			}
			node := &yaml.Node{Kind: yaml.MappingNode}
			for _, p := range pairs {
				value := scalar(p.Value)
				if p.Quoted {
					value = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p.Value, Line: 1, Column: 1}
				}
				node.Content = append(node.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: p.Key, Line: 1, Column: 1}, value)
			}
			vars, err := ParseVars(file, node)
			errs.Add(err)
			for name, vv := range vars {
				out[name] = vv
			}
			continue
		}
		doc, err := decode.Parse(file, data)
		if err != nil {
			errs.Add(err)
			continue
		}
		if len(doc.Content) == 0 {
			continue
		}
		vars, err := ParseVars(file, doc)
		errs.Add(err)
		for _, name := range slices.Sorted(maps.Keys(vars)) {
			if vars[name].Secret && !strings.HasPrefix(v, "@") {
				errs.Add(secretInArgv(name))
			}
		}
		for name, vv := range vars {
			out[name] = vv
		}
	}
	return out, errs.Err()
}

// scalar types a -e value as YAML would, leaving anything that is not a
// plain scalar as a string.
func scalar(s string) *yaml.Node {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err == nil && len(n.Content) == 1 && n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Style == 0 {
		c := n.Content[0]
		c.Line, c.Column = 1, 1
		return c
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Line: 1, Column: 1}
}

// wantPairHint completes "want key=value" with the other forms -e takes.
func wantPairHint(err error) string {
	if errors.Is(err, errWantPair) {
		return `, a mapping such as '{"key": 1}', or @file.yaml`
	}
	return ""
}

// secretPair finds a value marked !secret among pairs. What follows the
// mark may have been split off as a word of its own: the whole -e is
// refused, naming no value.
func secretPair(pairs []Pair) (string, bool) {
	for _, p := range pairs {
		if strings.HasPrefix(strings.TrimSpace(p.Value), "!secret") {
			return p.Key, true
		}
	}
	return "", false
}

// secretInArgv refuses a value marked !secret in an -e argument: runbook's
// arguments are readable by every local user (ps) and kept in shell
// history, so the secret would be out before the run starts.
func secretInArgv(name string) error {
	return fmt.Errorf("-e: variable %s is marked !secret on the command line, where every local user can read it (ps) and the shell keeps it: put it in a file only you can read and pass -e @file", decode.Quote(name))
}
