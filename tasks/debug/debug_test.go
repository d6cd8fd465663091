package debug_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/all"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

const pw = `- it's #hunter2` // YAML quotes it as '- it''s #hunter2'

func TestDebugPrintsForEachHost(t *testing.T) {
	env := tasktest.New(t)
	rb := fmt.Sprintf(`
vars:
  pw: !secret %q
  ports: [80, 443]
steps:
  - {name: out, hosts: h1, task: command, with: {cmd: "echo hello; echo {{ quote .pw }}"}, register: out}
  - {name: msg, hosts: h1, task: debug, with: {msg: "{{ .host.name }} says {{ .out.stdout | upper }}"}, register: said}
  - {name: ports, hosts: h1, task: debug, with: {var: ports}}
  - {name: secret, hosts: h1, task: debug, with: {var: pw}}
  - {name: registered, hosts: h1, task: debug, with: {var: out}}
  - {name: said, hosts: h1, task: debug, with: {var: said.msg}}
  - {name: stdout, hosts: h1, task: debug, with: {var: out.stdout}}
`, pw)
	for _, mode := range []string{"apply", "check"} {
		args := []string{}
		if mode == "check" {
			args = append(args, "--check")
		}
		r := env.Apply(rb, args...)
		want := map[string]string{
			"ports":      "ports:\n    - 80\n    - 443",
			"secret":     "pw: '********'",
			"registered": "changed: true",
		}
		if mode == "apply" {
			// What is rendered from a secret, or registered by a step
			// that read one, is secret as a whole (docs/secrets.md).
			want["msg"] = "********"
			want["said"] = "said.msg: '********'"
			want["stdout"] = "out.stdout: '********'"
		} else {
			want["registered"] = "status: changed"
			want["said"] = "unknown until applied: .out come from steps that did not run in check mode"
			want["stdout"] = "unknown until applied: .out come from steps that did not run in check mode"
		}
		for step, text := range want {
			ev := r.Result(step)
			if ev.Status != engine.OK || !strings.Contains(ev.Message, text) || len(ev.Changes) > 0 {
				t.Errorf("%s: %s: %s %q %q, want ok %q", mode, step, ev.Status, ev.Message, ev.Changes, text)
			}
		}
		for _, ev := range r.Events {
			if s := fmt.Sprint(ev); strings.Contains(s, "hunter2") {
				t.Errorf("%s: the secret is shown: %s", mode, s)
			}
		}
		if wantExit := map[string]int{"apply": tasktest.ExitOK, "check": tasktest.ExitDrift}[mode]; r.Exit != wantExit {
			t.Errorf("%s: exit %d, want %d (only the command changes)\n%s", mode, r.Exit, wantExit, r)
		}
	}

}

func TestDebugMistakes(t *testing.T) {
	env := tasktest.New(t)
	for with, want := range map[string]string{
		`{var: outt}`:      `:2:51: undefined variable "outt" on h1`,
		`{var: "a b"}`:     `:2:45: task debug: var: "a b" is not a variable name`,
		`{}`:               `:2:45: task debug: give msg (a message) or var`,
		`{msg: a, var: b}`: `:2:45: task debug: give msg or var, not both`,
	} {
		r := env.Apply("steps:\n  - {name: a, hosts: h1, task: debug, with: " + with + "}\n")
		if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, want) || len(r.Events) > 0 {
			t.Errorf("want %q: %s", want, r)
		}
	}
	r := env.Apply("vars: {m: {a: 1}}\nsteps:\n  - {name: a, hosts: h1, task: debug, with: {var: m.b}}\n")
	if ev := r.Result("a"); r.Exit != tasktest.ExitError || ev.Status != engine.Failed || !strings.Contains(ev.Message, "var m.b: undefined .m.b") {
		t.Errorf("a key that is not there: %s", r)
	}
}
