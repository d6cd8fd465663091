package schema_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/schema"
	_ "github.com/runbookdev/runbook/tasks/all"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

const loc = "runbook.schema.json"

// compile compiles the schema at ref (a JSON pointer into it, or "" for
// the whole runbook) with a real validator, which also checks the schema
// against draft-07's meta-schema.
func compile(t *testing.T, ref string) *jsonschema.Schema {
	t.Helper()
	b, err := schema.JSON()
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(loc, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(loc + ref)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// value turns YAML into what a validator reads, as yaml-language-server
// sees it: aliases and merge keys resolved, a value tagged !secret its
// plain self.
func value(t *testing.T, n *yaml.Node) any {
	t.Helper()
	switch n.Kind {
	case yaml.DocumentNode:
		return value(t, n.Content[0])
	case yaml.AliasNode:
		return value(t, n.Alias)
	case yaml.SequenceNode:
		out := []any{}
		for _, c := range n.Content {
			out = append(out, value(t, c))
		}
		return out
	case yaml.MappingNode:
		pairs, err := decode.Pairs("", n)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]any{}
		for _, kv := range pairs {
			out[kv[0].Value] = value(t, kv[1])
		}
		return out
	}
	var v any
	c := *n
	if c.Tag == "!secret" {
		c.Tag = ""
	}
	if err := c.Decode(&v); err != nil {
		t.Fatalf("line %d: %v", n.Line, err)
	}
	return v
}

func parse(t *testing.T, name, text string) any {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return value(t, &doc)
}

// TestRepoRunbooksValidate validates every runbook in the repository, and
// the examples of docs/runbook-format.md, against the schema.
func TestRepoRunbooksValidate(t *testing.T) {
	s := compile(t, "")
	var files []string
	for _, pat := range []string{"../../runbooks/*.yaml", "../../runbooks/*/*.yaml", "../runbook/testdata/good/*.yaml", "../runbook/testdata/good/*/*.yaml"} {
		m, _ := filepath.Glob(pat)
		for _, f := range m {
			// vars/ holds vars files (vars_files:), not runbooks.
			if filepath.Base(filepath.Dir(f)) != "vars" {
				files = append(files, f)
			}
		}
	}
	if len(files) < 12 {
		t.Fatalf("found only %d runbooks: %v", len(files), files)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(parse(t, f, string(text))); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}

	step := compile(t, "#/definitions/step")
	doc, err := os.ReadFile("../../docs/runbook-format.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(doc), -1)
	checked := 0
	for i, b := range blocks {
		name := fmt.Sprintf("docs/runbook-format.md example %d", i+1)
		switch v := parse(t, name, b[1]).(type) {
		case []any: // steps
			for _, st := range v {
				if err := step.Validate(st); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
			checked++
		case map[string]any:
			if _, ok := v["steps"]; ok {
				if err := s.Validate(v); err != nil {
					t.Errorf("%s: %v", name, err)
				}
				checked++
			}
		}
	}
	if checked < 5 {
		t.Errorf("checked %d of docs/runbook-format.md's %d examples: did their form change?", checked, len(blocks))
	}
}

// TestSchemaAcceptsWhatTheLoaderDoes covers the shapes the repository's
// runbooks may not use: templates where a number or a bool goes, YAML 1.1
// booleans, single values for lists, durations.
func TestSchemaAcceptsWhatTheLoaderDoes(t *testing.T) {
	s := compile(t, "")
	for name, text := range map[string]string{
		"templates in an int and a bool": `
steps:
  - {task: consul_service, hosts: all, with: {name: web, port: "{{ .port }}", sidecar: "{{ .mesh }}"}}`,
		"a template for a list and a mode": `
steps:
  - {task: file, hosts: all, with: {path: /x, mode: "{{ .mode }}"}}
  - {task: consul_service, hosts: all, with: {name: web, tags: "{{ .tags }}"}}`,
		"YAML 1.1 booleans and one value for a list": `
hosts: web
steps:
  - {task: command, become: yes, become_method: su, ignore_errors: off, tags: deploy, notify: restart, with: {cmd: x}}
handlers:
  - {name: restart, task: command, with: {cmd: y}}`,
		"durations and batches": `
steps:
  - {task: command, hosts: all, timeout: 1m30s, delay: 5, retries: 2, with: {cmd: x}}
  - {hosts: web, serial: [1, "2", " 30%"], order: sorted, max_fail_percentage: 10, block: [{task: command, with: {cmd: x}}]}
  - {hosts: web, serial: "50%", order: "{{ .host.name }}", block: [{task: command, with: {cmd: x}}], rescue: [], always: }`,
		"an import with a loop": `
steps:
  - {import: lib.yaml, loop: [a, b], loop_var: x, vars: {a: 1}, vars_files: [v.yaml]}
  - {import: lib.yaml, loop: "{{ .list }}"}`,
		"secrets": `
vars:
  token: !secret abc
  list: !secret [a, b]
steps:
  - {task: command, hosts: all, with: {cmd: !secret x}}`,
	} {
		if err := s.Validate(parse(t, name, text)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if _, err := runbook.Load(write(t, text)); err != nil {
			t.Errorf("%s: the loader refuses it: %v", name, err)
		}
	}
}

// write writes a runbook beside the files the cases import.
func write(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"lib.yaml":  "steps: [{task: command, hosts: all, with: {cmd: x}}]\n",
		"x.yaml":    "steps: [{task: command, hosts: all, with: {cmd: x}}]\n",
		"v.yaml":    "a: 2\n",
		"site.yaml": text,
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "site.yaml")
}

// TestSchemaRejects checks that mistakes the loader refuses are refused by
// the schema too, each for the reason expected.
func TestSchemaRejects(t *testing.T) {
	s := compile(t, "")
	for _, c := range []struct{ name, text, why string }{
		{"unknown top-level key", "stepz: []\nsteps: [{task: command, hosts: all, with: {cmd: x}}]", "additional properties 'stepz'"},
		{"no steps", "name: x", "missing property 'steps'"},
		{"unknown step key", "steps: [{task: command, hosts: all, wiht: {cmd: x}}]", "'wiht'"},
		{"step without task or import", "steps: [{name: x, hosts: all}]", "missing property 'task'"},
		{"unknown task", "steps: [{task: comand, hosts: all, with: {cmd: x}}]", "must be one of"},
		{"unknown module parameter", "steps: [{task: command, hosts: all, with: {cmd: x, chdir2: /}}]", "'chdir2'"},
		{"missing required parameter", "steps: [{task: file, hosts: all, with: {content: x}}]", "missing property 'path'"},
		{"no with where a parameter is required", "steps: [{task: file, hosts: all}]", "missing property 'with'"},
		{"wrong parameter type", "steps: [{task: consul_service, hosts: all, with: {name: w, port: eighty}}]", "port"},
		{"a list for a scalar parameter", "steps: [{task: command, hosts: all, with: {cmd: [a, b]}}]", "cmd"},
		{"a bad mode", "steps: [{task: file, hosts: all, with: {path: /x, mode: rw-r--r--}}]", "mode"},
		{"a struct parameter's unknown key", "steps: [{task: consul_service, hosts: all, with: {name: w, sidecar: true, upstreams: [{service: db, local_port: 1, x: 1}]}}]", "'x'"},
		{"wrong step key type", "steps: [{task: command, hosts: all, retries: many, with: {cmd: x}}]", "retries"},
		{"a template where the step wants a number", "steps: [{task: command, hosts: all, retries: '{{ .n }}', with: {cmd: x}}]", "retries"},
		{"a bad duration", "steps: [{task: command, hosts: all, timeout: soon, with: {cmd: x}}]", "timeout"},
		{"a bad batch", "steps: [{hosts: all, serial: 0, block: [{task: command, with: {cmd: x}}]}]", "serial"},
		{"a bad order", "steps: [{hosts: all, order: random, block: [{task: command, with: {cmd: x}}]}]", "order"},
		{"a bad become method", "steps: [{hosts: all, task: command, become_method: runas, with: {cmd: x}}]", "become_method"},
		{"task keys on a block", "steps: [{hosts: all, register: r, block: [{task: command, with: {cmd: x}}]}]", "'register'"},
		{"task keys on an import", "steps: [{import: x.yaml, become: true}]", "'become'"},
		{"order on a task step", "steps: [{task: command, hosts: all, order: sorted, with: {cmd: x}}]", "'order'"},
		{"a bad step inside a block", "steps: [{hosts: all, block: [{task: command, with: {cmd: x}, bogus: 1}]}]", "'bogus'"},
		{"a handler that imports", "steps: [{task: command, hosts: all, with: {cmd: x}}]\nhandlers: [{name: h, import: x.yaml}]", "'import'"},
		{"a reserved variable name", "vars: {host: x}\nsteps: [{task: command, hosts: all, with: {cmd: x}}]", "host"},
		{"a reserved register name", "steps: [{task: command, hosts: all, register: result, with: {cmd: x}}]", "register"},
	} {
		if _, err := runbook.Load(write(t, c.text)); err == nil {
			t.Errorf("%s: the loader accepts it", c.name)
		}
		err := s.Validate(parse(t, c.name, c.text))
		switch {
		case err == nil:
			t.Errorf("%s: accepted", c.name)
		case !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.why)):
			t.Errorf("%s: refused, but not for %q: %v", c.name, c.why, err)
		}
	}
}
