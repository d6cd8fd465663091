package cli_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/cli"
)

// complete asks runbook for the completions of the last of args, as the
// shell scripts of `runbook completion` do, and returns them with the
// directive cobra ends them with.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	code, out, errOut := runCLI(append([]string{"__complete"}, args...)...)
	if code != cli.ExitOK {
		t.Fatalf("__complete %v: exit %d\n%s%s", args, code, out, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	var names []string
	for _, l := range lines[:len(lines)-1] {
		name, _, _ := strings.Cut(l, "\t")
		names = append(names, name)
	}
	return names, lines[len(lines)-1]
}

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{"bash": "__start_runbook", "zsh": "#compdef runbook", "fish": "complete -c runbook"} {
		code, out, errOut := runCLI("completion", shell)
		if code != cli.ExitOK || !strings.Contains(out, want) {
			t.Errorf("completion %s: exit %d, want %q\n%.300s%s", shell, code, want, out, errOut)
		}
	}
}

// TestCompletion: runbook files for a runbook, the inventory's hosts and
// groups for -l (after a comma too), the runbook's tags for -t, module
// names for -m.
func TestCompletion(t *testing.T) {
	inv := write(t, "hosts.yaml", "hosts:\n  web01: {connection: local}\n  web02: {connection: local}\n  db01: {connection: local}\ngroups:\n  web: {hosts: [web01, web02]}\n  db: {hosts: [db01]}\n")
	rb := write(t, "site.yaml", "inventory: "+inv+"\nsteps:\n  - {name: a, hosts: all, task: command, with: {cmd: \"true\"}, tags: [deploy]}\n  - block:\n      - {name: b, hosts: all, task: command, with: {cmd: \"true\"}, tags: [config]}\n    tags: [outer]\n")
	for _, tc := range []struct {
		args      []string
		want      []string
		directive string
	}{
		{[]string{"apply", ""}, []string{"yaml", "yml"}, ":8"},
		{[]string{"validate", rb, ""}, []string{"yaml", "yml"}, ":8"},
		{[]string{"apply", "-i", inv, "-l", ""}, []string{"all", "db", "db01", "web", "web01", "web02"}, ":4"},
		{[]string{"apply", "-i", inv, "--limit", "we"}, []string{"web", "web01", "web02"}, ":4"},
		{[]string{"apply", "-i", inv, "-l", "web,d"}, []string{"web,db", "web,db01"}, ":4"},
		{[]string{"apply", "-i", inv, "-l", "web:!web0"}, []string{"web:!web01", "web:!web02"}, ":4"},
		{[]string{"apply", rb, "-l", "d"}, []string{"db", "db01"}, ":4"},
		{[]string{"apply", rb, "-t", ""}, []string{"config", "deploy", "outer"}, ":4"},
		{[]string{"apply", rb, "--skip-tags", "deploy,c"}, []string{"deploy,config"}, ":4"},
		{[]string{"inventory", "-i", ""}, []string{"yaml", "yml", "ini"}, ":8"},
	} {
		got, directive := complete(t, tc.args...)
		if diff := cmp.Diff(tc.want, got); diff != "" || directive != tc.directive {
			t.Errorf("%v: directive %s (want %s), completions (-want +got):\n%s", tc.args, directive, tc.directive, diff)
		}
	}
	// An inventory read from an API is not read to complete a word.
	api := "../../inventory/metal.yaml"
	if got, _ := complete(t, "apply", "-i", api, "-l", ""); len(got) != 0 {
		t.Errorf("completed from an API inventory: %v", got)
	}
	got, _ := complete(t, "help", "")
	for _, want := range []string{"apply", "patterns", "extra-vars"} {
		if !slices.Contains(got, want) {
			t.Errorf("help: %s not among %v", want, got)
		}
	}
}
