package cli_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

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
