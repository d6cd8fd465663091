package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/cli"
)

// hostResults decodes the host_result events of a JSON run, by step.
func hostResults(t *testing.T, out string) map[string]map[string]any {
	t.Helper()
	got := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if ev["type"] == "host_result" {
			got[ev["step"].(string)] = ev
		}
	}
	return got
}

// TestCommandOutputIsShown: -v shows what each command printed under its
// host's line, escaped; JSON host_result events carry stdout, stderr and
// rc. Secrets are masked there as everywhere: a value the run knows is
// secret, and all of what a step that read a secret printed.
func TestCommandOutputIsShown(t *testing.T) {
	inv := write(t, "hosts.yaml", "hosts:\n  me: {connection: local}\n")
	secretFile := write(t, "pw", "s3cr3t-pw\n")
	vars := write(t, "vars.yaml", "pw: !secret s3cr3t-pw\n")
	rb := write(t, "site.yaml", fmt.Sprintf(`steps:
  - {name: hello, hosts: me, task: command, with: {cmd: "echo hello; printf 'two\\nlines\\033]0;x\\a\\n'; echo oops >&2"}}
  - {name: cat, hosts: me, task: command, with: {cmd: "echo before; cat %s"}}
  - {name: derived, hosts: me, task: command, with: {cmd: "echo {{ .pw }} | rev"}}
  - {name: fails, hosts: me, task: command, with: {cmd: "echo bad; exit 3"}, ignore_errors: true}
`, secretFile))
	code, out, errOut := runCLI("apply", "-i", inv, "-e", "@"+vars, "-v", rb)
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"      stdout:\n        hello\n        two\n        lines\\x1b]0;x\\x07\n      stderr: oops\n",
		"      stdout:\n        before\n        ********\n",
		"      stdout: (hidden: the step read a secret)\n",
		"      stdout: bad\n      rc: 3\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("-v: want %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "s3cr3t") || strings.Contains(out, "wp-t3rc3s") {
		t.Errorf("a secret shown:\n%s", out)
	}
	_, quiet, _ := runCLI("apply", "-i", inv, "-e", "@"+vars, rb)
	if strings.Contains(quiet, "stdout") {
		t.Errorf("without -v, output shown:\n%s", quiet)
	}

	code, out, errOut = runCLI("apply", "-i", inv, "-e", "@"+vars, "--output", "json", rb)
	if code != cli.ExitOK {
		t.Fatalf("json: exit %d\n%s%s", code, out, errOut)
	}
	got := hostResults(t, out)
	for step, want := range map[string][3]any{
		"hello":   {"hello\ntwo\nlines\x1b]0;x\a", "oops", 0.0},
		"cat":     {"before\n********", "", 0.0},
		"derived": {"(hidden: the step read a secret)", "", 0.0},
		"fails":   {"bad", "", 3.0},
	} {
		ev := got[step]
		if ev["stdout"] != want[0] || ev["stderr"] != nilIfEmpty(want[1]) || ev["rc"] != want[2] {
			t.Errorf("%s: stdout %q stderr %q rc %v, want %q %q %v", step, ev["stdout"], ev["stderr"], ev["rc"], want[0], want[1], want[2])
		}
	}
	if strings.Contains(out, "s3cr3t") || strings.Contains(out, "wp-t3rc3s") {
		t.Errorf("a secret in JSON:\n%s", out)
	}
}

func nilIfEmpty(v any) any {
	if v == "" {
		return nil
	}
	return v
}

// jsonLines decodes every line of out as a JSON object: nothing else may be
// on stdout under --output json.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev map[string]any
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("not a JSON event: %q: %v\n%s", line, err, out)
		}
		delete(ev, "time")
		evs = append(evs, ev)
	}
	return evs
}

// TestErrorsAsJSONEvents: under --output json, what stops a run before
// it starts is a JSON event per problem, with its place when known, as
// well as the line on stderr.
func TestErrorsAsJSONEvents(t *testing.T) {
	inv := write(t, "hosts.yaml", "hosts:\n  me: {connection: local}\n")
	bad := write(t, "bad.yaml", "steps:\n  - {name: a, hosts: me, task: command, with: {cmd: \"true\", unles: x}}\n  - {name: b, hosts: me, task: file, with: {path: /x, mode: 999}}\n")
	undefined := write(t, "undefined.yaml", "steps:\n  - {name: a, hosts: me, task: command, with: {cmd: \"echo {{ .version }}\"}}\n")
	good := write(t, "good.yaml", "steps:\n  - {name: a, hosts: me, task: command, with: {cmd: \"true\"}}\n")
	for _, tc := range []struct {
		args []string
		want []map[string]any
	}{
		{[]string{"apply", "-i", inv, "--output", "json", bad}, []map[string]any{
			{"type": "error", "file": bad, "line": 2.0, "col": 61.0, "message": `task command: unknown key "unles"; did you mean "unless"? (known: chdir, cmd, creates, env, ok_codes, read_only, removes, stdin, unless)`},
			{"type": "error", "file": bad, "line": 3.0, "col": 61.0, "message": `task file: mode: want octal permissions such as 0644, got "999"`},
		}},
		{[]string{"apply", "-i", inv, "--output", "json", undefined}, []map[string]any{
			{"type": "error", "file": undefined, "line": 2.0, "col": 53.0, "message": `undefined variable "version" on me: define it in the runbook's vars, the inventory or with -e version=...`},
		}},
		{[]string{"apply", "-i", inv, "--output", "json", "-e", "novalue", good}, []map[string]any{
			{"type": "error", "message": `-e "novalue": want key=value, a mapping such as '{"key": 1}', or @file.yaml`},
		}},
		{[]string{"validate", "--output", "json", "-i", inv, good, bad}, []map[string]any{
			{"type": "valid", "file": inv, "message": "inventory"},
			{"type": "valid", "file": good, "message": "1 steps in 1 files"},
			{"type": "error", "file": bad, "line": 2.0, "col": 61.0, "message": `task command: unknown key "unles"; did you mean "unless"? (known: chdir, cmd, creates, env, ok_codes, read_only, removes, stdin, unless)`},
			{"type": "error", "file": bad, "line": 3.0, "col": 61.0, "message": `task file: mode: want octal permissions such as 0644, got "999"`},
		}},
	} {
		code, out, errOut := runCLI(tc.args...)
		if code != cli.ExitError || !strings.HasPrefix(errOut, "runbook: ") {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
		if diff := cmp.Diff(tc.want, jsonLines(t, out)); diff != "" {
			t.Errorf("%v: events (-want +got):\n%s", tc.args, diff)
		}
	}
	code, out, errOut := runCLI("validate", "--output", "json", good)
	want := []map[string]any{{"type": "valid", "file": good, "message": "1 steps in 1 files; hosts and inventory variables not checked: no inventory, give one with -i"}}
	if diff := cmp.Diff(want, jsonLines(t, out)); code != cli.ExitOK || diff != "" {
		t.Errorf("validate good: exit %d (-want +got):\n%s%s", code, diff, errOut)
	}
}
