package template_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/tasks/tasktest"
	_ "github.com/runbookdev/runbook/tasks/template"
)

func TestTemplateTimelineWithFacts(t *testing.T) {
	env := tasktest.New(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "consul.hcl.tmpl"), []byte(
		"node_name = \"{{ .host.name }}\"\nserver = {{ .server }}\nbind_addr = \"{{ .facts.default_ipv4 | default \"127.0.0.1\" }}\"\nos = \"{{ .facts.os.family }}\"\n"), 0o644)
	dest := filepath.Join(env.Dir, "consul.hcl")
	rbFile := filepath.Join(dir, "site.yaml")
	rb := func(server bool) string {
		return fmt.Sprintf("vars: {server: %v}\nsteps:\n  - {name: cfg, hosts: h1, task: template, with: {src: consul.hcl.tmpl, dest: %s, mode: \"0640\"}}\n", server, dest)
	}
	apply := func(server bool, args ...string) tasktest.Run {
		os.WriteFile(rbFile, []byte(rb(server)), 0o644)
		return env.ApplyFile(rbFile, args...)
	}
	if r := apply(true, "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("first check: %s", r)
	}
	if r := apply(true); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	got, _ := os.ReadFile(dest)
	if !strings.Contains(string(got), "node_name = \"h1\"\nserver = true\n") || !strings.Contains(string(got), "os = \"debian\"") {
		t.Errorf("rendered:\n%s", got)
	}
	if r := apply(true, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}
	// Drift comes from the runbook this time: the diff shows the rendered change.
	r := apply(false, "--check", "--diff")
	ev := r.Result("cfg")
	if r.Exit != tasktest.ExitDrift || ev.Status != engine.Changed || !strings.Contains(ev.Diff, "-server = true") || !strings.Contains(ev.Diff, "+server = false") {
		t.Fatalf("%s\n%s", r, ev.Diff)
	}
}

func TestTemplateUndefinedVariableNamesFileAndLine(t *testing.T) {
	env := tasktest.New(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x.tmpl"), []byte("ok\n{{ .nope }}\n"), 0o644)
	rbFile := filepath.Join(dir, "site.yaml")
	os.WriteFile(rbFile, []byte(fmt.Sprintf("steps:\n  - {name: t, hosts: h1, task: template, with: {src: x.tmpl, dest: %s/x}}\n", env.Dir)), 0o644)
	// Found before the run, as the runbook says which file it renders.
	r := env.ApplyFile(rbFile)
	if r.Exit != tasktest.ExitError || len(r.Events) > 0 || !strings.Contains(r.Stderr, "x.tmpl:2:4: undefined variable \"nope\" on h1") {
		t.Fatalf("%s", r)
	}
}
