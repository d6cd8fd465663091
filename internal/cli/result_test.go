package cli_test

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/engine"
)

// A step or import tagged never runs only when --tags asks for one of its
// tags (never included); always still runs whatever --tags asks.
func TestTagNever(t *testing.T) {
	env := newSSHEnv(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "lib.yaml"), []byte(fmt.Sprintf("steps:\n  - {name: imported, hosts: h1, task: file, with: {path: %s/imported, content: x}, tags: [debug]}\n", env.Dir)), 0o644)
	rb := filepath.Join(dir, "site.yaml")
	os.WriteFile(rb, []byte(fmt.Sprintf(`
steps:
  - {name: plain, hosts: h1, task: file, with: {path: %[1]s/plain, content: x}}
  - {name: tagged, hosts: h1, task: file, with: {path: %[1]s/tagged, content: x}, tags: [app]}
  - {name: never, hosts: h1, task: file, with: {path: %[1]s/never, content: x}, tags: [never]}
  - {name: reset, hosts: h1, task: file, with: {path: %[1]s/reset, content: x}, tags: [never, reset]}
  - {name: always, hosts: h1, task: file, with: {path: %[1]s/always, content: x}, tags: [always]}
  - {import: lib.yaml, tags: [never]}
`, env.Dir)), 0o644)
	for _, c := range []struct {
		args []string
		ran  []string
	}{
		{nil, []string{"always", "plain", "tagged"}},
		{[]string{"--tags", "app"}, []string{"always", "tagged"}},
		{[]string{"--tags", "reset"}, []string{"always", "reset"}},
		{[]string{"--tags", "debug"}, []string{"always", "imported"}},
		{[]string{"--tags", "never"}, []string{"always", "imported", "never", "reset"}},
		{[]string{"--tags", "never", "--skip-tags", "reset"}, []string{"always", "imported", "never"}},
	} {
		r := env.ApplyFile(rb, append(c.args, "--check")...)
		if r.Exit != cli.ExitDrift {
			t.Errorf("%v: %s", c.args, r)
			continue
		}
		if diff := cmp.Diff(c.ran, slices.Sorted(maps.Keys(r.Statuses()))); diff != "" {
			t.Errorf("%v: steps that ran (-want +got):\n%s", c.args, diff)
		}
	}
}

// changed_when and failed_when decide a step's status from its result, as
// in Ansible: failed_when replaces the module's failure test for a command
// that exited, but not for a failure without a result; retries see the
// decided status, register keeps it, handlers follow it.
func TestChangedWhenFailedWhen(t *testing.T) {
	env := newSSHEnv(t)
	rb := strings.ReplaceAll(`
steps:
  - name: rc 3 is fine
    hosts: h1
    task: command
    with: {cmd: "echo three; exit 3"}
    failed_when: "ne .result.rc 3"
    changed_when: false
    register: three
  - name: record
    hosts: h1
    task: file
    with: {path: DIR/three, content: "{{ .three.rc }} {{ .three.stdout }} failed={{ .three.failed }} changed={{ .three.changed }} {{ .three.status }}"}
  - name: found is bad
    hosts: h1
    task: command
    with: {cmd: "echo found it", read_only: true}
    failed_when: 'contains "found" .result.stdout'
    ignore_errors: true
  - name: not a command exit
    hosts: h1
    task: file
    with: {path: DIR/missing/file, content: x}
    failed_when: false
    ignore_errors: true
  - name: counts to 3
    hosts: h1
    task: command
    with: {cmd: "n=$(( $(cat count 2>/dev/null || echo 0) + 1 )); echo $n > count; echo $n; exit 1", chdir: DIR}
    failed_when: false
    until: 'eq .counted.stdout "3"'
    retries: 5
    delay: 0
    register: counted
  - name: forced change
    hosts: h1
    task: file
    with: {path: DIR/three}
    changed_when: true
    notify: announce
handlers:
  - name: announce
    task: file
    with: {path: DIR/announced, content: "{{ .counted.stdout }} {{ .counted.changed }} {{ .counted.failed }}"}
`, "DIR", env.Dir)
	r := env.Apply(rb)
	if r.Exit != cli.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	want := map[string]engine.Status{
		"rc 3 is fine": engine.OK, "record": engine.Changed, "found is bad": engine.Failed, "not a command exit": engine.Failed,
		"counts to 3": engine.Changed, "forced change": engine.Changed, "announce": engine.Changed,
	}
	if diff := cmp.Diff(want, r.Statuses()); diff != "" {
		t.Errorf("statuses (-want +got):\n%s%s", diff, r)
	}
	for file, want := range map[string]string{"three": "3 three failed=false changed=false ok", "announced": "3 true false"} {
		if data, _ := os.ReadFile(filepath.Join(env.Dir, file)); string(data) != want {
			t.Errorf("%s = %q, want %q", file, data, want)
		}
	}
	if ev := r.Result("found is bad"); !ev.Ignored || ev.Message != `failed_when is true: contains "found" .result.stdout` {
		t.Errorf("found is bad: %+v", ev)
	}
	if ev := r.Result("not a command exit"); !strings.Contains(ev.Message, "does not exist") {
		t.Errorf("a failure without a result stays one: %+v", ev)
	}
	if ev := r.Result("forced change"); !slices.Equal(ev.Changes, []string{"changed_when is true: true"}) {
		t.Errorf("forced change: %+v", ev)
	}
	retries := 0
	for _, ev := range r.Events {
		if ev.Type == engine.Retry && ev.Step == "counts to 3" {
			retries++
		}
	}
	if retries != 2 {
		t.Errorf("%d retries, want 2: failed_when decides before until", retries)
	}
}

// In check mode changed_when false keeps a step from being drift (it is
// not run); a condition on what only applying gives is unknown; one on
// what check mode has (a probe's output) decides.
func TestChangedWhenFailedWhenInCheckMode(t *testing.T) {
	env := newSSHEnv(t)
	reload := fmt.Sprintf("  - {name: reload, hosts: h1, task: command, with: {cmd: \"touch %s/reloaded\"}, changed_when: false}\n", env.Dir)
	for _, c := range []struct {
		step   string
		exit   int
		status engine.Status
		text   string
	}{
		{"", cli.ExitOK, "", ""},
		{`{name: probe, hosts: h1, task: command, with: {cmd: "echo new", read_only: true}, changed_when: 'eq .result.stdout "new"'}`, cli.ExitDrift, engine.Changed, "changed_when is true"},
		{`{name: probe, hosts: h1, task: command, with: {cmd: "echo x"}, changed_when: 'contains "x" .result.stdout'}`, cli.ExitDrift, engine.Changed, "unknown until applied: contains \"x\" .result.stdout reads what only applying gives"},
		{`{name: probe, hosts: h1, task: command, with: {cmd: "echo bad", read_only: true}, failed_when: 'eq .result.stdout "bad"'}`, cli.ExitError, engine.Failed, "failed_when is true"},
	} {
		rb := "steps:\n" + reload
		if c.step != "" {
			rb += "  - " + c.step + "\n"
		}
		r := env.Apply(rb, "--check")
		ev := r.Result("probe")
		if r.Exit != c.exit || r.Result("reload").Status != engine.OK || ev.Status != c.status || !strings.Contains(ev.Message+strings.Join(ev.Changes, ""), c.text) {
			t.Errorf("%s: %s", c.step, r)
		}
		if ev.Unknown != strings.HasPrefix(c.text, "unknown") {
			t.Errorf("%s: unknown = %v", c.step, ev.Unknown)
		}
	}
	if _, err := os.Stat(filepath.Join(env.Dir, "reloaded")); err == nil {
		t.Error("check mode ran the command")
	}
}

// changed_when and failed_when are checked before any host is contacted:
// their syntax, where they may go, the variables they read.
func TestResultControlIsCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "lib.yaml"), []byte("steps:\n  - {hosts: all, task: command, with: {cmd: \"true\"}}\n"), 0o644)
	rb := filepath.Join(dir, "site.yaml")
	os.WriteFile(rb, []byte(`steps:
  - {name: a, hosts: all, task: command, with: {cmd: "true"}, changed_when: "{{ .result.rc"}
  - {name: b, hosts: all, task: command, with: {cmd: "true"}, failed_when: 1}
  - {import: lib.yaml, changed_when: false}
  - {name: c, hosts: all, task: command, with: {cmd: "true"}, failed_when: "ne .result.rc .okay", register: out}
  - {name: d, hosts: all, task: command, with: {cmd: "true"}, changed_when: "ne .out.rc 0"}
`), 0o644)
	inv := write(t, "hosts.yaml", "hosts:\n  h1: {address: 127.0.0.1, port: 1}\n")
	code, out, errOut := runCLI("apply", "-i", inv, rb)
	for _, want := range []string{
		"site.yaml:2:77: template syntax: unclosed action",
		"site.yaml:3:76: condition \"1\" is the number 1, so it is never true or false",
		`site.yaml:4:24: "changed_when" cannot be used with import`,
	} {
		if code != cli.ExitError || out != "" || !strings.Contains(errOut, want) {
			t.Errorf("want %q: %d %q %q", want, code, out, errOut)
		}
	}
	os.WriteFile(rb, []byte(`steps:
  - {name: c, hosts: all, task: command, with: {cmd: "true"}, failed_when: "ne .result.rc .okay", register: out}
  - {name: d, hosts: all, task: command, with: {cmd: "true"}, changed_when: "ne .out.rc 0"}
`), 0o644)
	code, out, errOut = runCLI("apply", "-i", inv, rb)
	if want := `site.yaml:2:76: undefined variable "okay" on h1`; code != cli.ExitError || out != "" || !strings.Contains(errOut, want) || strings.Contains(errOut, `"out"`) {
		t.Errorf("want %q only: %d %q %q", want, code, out, errOut)
	}
}

// A probe's exit code is a command exit that failed_when judges, in check
// mode as in a real run; a probe that fails after an earlier change is
// unknown in check mode.
func TestFailedWhenJudgesAProbe(t *testing.T) {
	env := newSSHEnv(t)
	rb := strings.ReplaceAll(`
steps:
  - name: probe
    hosts: h1
    task: command
    with: {cmd: "grep -c nothing DIR/none.txt", read_only: true}
    failed_when: "gt .result.rc 2"
    register: seen
  - {name: record, hosts: h1, task: file, with: {path: DIR/seen, content: "{{ .seen.rc }} {{ .seen.failed }}"}}
  - {name: after a change, hosts: h1, task: command, with: {cmd: "cat DIR/seen", read_only: true}}
`, "DIR", env.Dir)
	os.WriteFile(filepath.Join(env.Dir, "none.txt"), []byte("x\n"), 0o644)
	r := env.Apply(rb, "--check")
	st := r.Statuses()
	if r.Exit != cli.ExitDrift || st["probe"] != engine.OK || st["record"] != engine.Changed || st["after a change"] != engine.Changed || !r.Result("after a change").Unknown {
		t.Fatalf("check: %v\n%s", st, r)
	}
	if r = env.Apply(rb); r.Exit != cli.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if data, _ := os.ReadFile(filepath.Join(env.Dir, "seen")); string(data) != "1 false" {
		t.Errorf("seen = %q", data)
	}
}

// The text output shows what a debug step prints under its host's line,
// secrets masked: a message rendered from a secret is masked whole.
func TestDebugInTextOutput(t *testing.T) {
	env := newSSHEnv(t)
	rb := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(rb, []byte(`
vars: {pw: !secret "- it's #hunter2", ports: [80, 443]}
steps:
  - {name: ports, hosts: h1, task: debug, with: {var: ports}}
  - {name: pw, hosts: h1, task: debug, with: {msg: "pw is {{ .pw }}"}}
`), 0o644)
	code, out := env.Text(rb)
	for _, want := range []string{"ok           h1", "  ports:\n", "    - 443\n", "ms  ********\n"} {
		if code != cli.ExitOK || !strings.Contains(out, want) || strings.Contains(out, "hunter2") {
			t.Errorf("want %q:\n%s", want, out)
		}
	}
}
