package cli_test

import (
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/cli"
)

func TestExtraVarsFileRefuses(t *testing.T) {
	good := write(t, "good.yaml", "steps:\n  - {name: a, hosts: all, task: command, with: {cmd: \"true\"}}\n")
	tests := map[string]string{
		"env: prod\n---\nenv: dev\n": "vars.yaml:2:1: a second YAML document starts here",
		"token: !vault abc\n":        `vars.yaml:1:8: unknown YAML tag "!vault"`,
	}
	for content, want := range tests {
		vars := write(t, "vars.yaml", content)
		code, out, errOut := runCLI("apply", "-e", "@"+vars, good)
		if code != cli.ExitError || out != "" || !strings.Contains(errOut, want) {
			t.Errorf("-e @%q: exit %d, stderr %q, want %q", content, code, errOut, want)
		}
	}
	code, _, errOut := runCLI("apply", "-e", "{a: 1}\n---\n{b: 2}", good)
	if want := "-e #1:2:1: a second YAML document starts here"; code != cli.ExitError || !strings.Contains(errOut, want) {
		t.Errorf("inline -e: exit %d, stderr %q, want %q", code, errOut, want)
	}
}
