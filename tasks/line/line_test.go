package line_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/line"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

func TestLineTimeline(t *testing.T) {
	env := tasktest.New(t)
	conf := filepath.Join(env.Dir, "sshd_config")
	os.WriteFile(conf, []byte("Port 22\n#PermitRootLogin yes\nPasswordAuthentication yes\nUsePAM yes\n"), 0o600)
	created := filepath.Join(env.Dir, "sysctl.conf")
	rb := fmt.Sprintf(`
steps:
  - {name: root, hosts: h1, task: line, with: {path: %[1]s, regexp: "^#?PermitRootLogin", line: "PermitRootLogin prohibit-password"}}
  - {name: nopass, hosts: h1, task: line, with: {path: %[1]s, regexp: "^PasswordAuthentication", state: absent}}
  - {name: append, hosts: h1, task: line, with: {path: %[1]s, line: "MaxSessions 64"}}
  - {name: create, hosts: h1, task: line, with: {path: %[2]s, line: "vm.swappiness = 10", create: true, mode: "0640"}}
`, conf, created)
	before := tasktest.Snapshot(t, env.Dir)
	r := env.Apply(rb, "--check", "--diff")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(r.Result("root").Diff, "+PermitRootLogin prohibit-password") {
		t.Fatalf("first check: %s", r)
	}
	if tasktest.Snapshot(t, env.Dir) != before {
		t.Fatal("check mode changed the host")
	}
	if r = env.Apply(rb); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	got, _ := os.ReadFile(conf)
	want := "Port 22\nPermitRootLogin prohibit-password\nUsePAM yes\nMaxSessions 64\n"
	if string(got) != want {
		t.Errorf("sshd_config =\n%s\nwant\n%s", got, want)
	}
	if st, _ := os.Stat(conf); st.Mode().Perm() != 0o600 {
		t.Errorf("the edited file lost its mode: %v", st.Mode())
	}
	if st, err := os.Stat(created); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("created: %v %v", st, err)
	}
	if r = env.Apply(rb, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}
	os.WriteFile(conf, []byte(want+"PasswordAuthentication yes\n"), 0o600)
	r = env.Apply(rb, "--check")
	st := r.Statuses()
	if r.Exit != tasktest.ExitDrift || st["nopass"] != engine.Changed || st["root"] != engine.OK || st["append"] != engine.OK {
		t.Fatalf("drift: %v\n%s", st, r)
	}
}

func TestLineMissingFile(t *testing.T) {
	env := tasktest.New(t)
	r := env.Apply(fmt.Sprintf("steps:\n  - {name: l, hosts: h1, task: line, with: {path: %s/none, line: x}}\n", env.Dir))
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Result("l").Message, "set create: true") {
		t.Fatalf("%s", r)
	}
}

// insertafter and insertbefore place a line that regexp finds nowhere, as
// Ansible's lineinfile does: after or before the last matching line, at
// the end when none matches, at the top for insertbefore: BOF.
func TestLineInsertAfterBefore(t *testing.T) {
	env := tasktest.New(t)
	const text = "a\nx1\nb\nx2\nc\n"
	cases := []struct {
		name, with, text, want string
	}{
		{"after", `line: new, insertafter: "^x"`, text, "a\nx1\nb\nx2\nnew\nc\n"},
		{"before", `line: new, insertbefore: "^x"`, text, "a\nx1\nb\nnew\nx2\nc\n"},
		{"bof", `line: new, insertbefore: BOF`, text, "new\n" + text},
		{"eof", `line: new, insertafter: EOF`, text, text + "new\n"},
		{"nomatch_after", `line: new, insertafter: "^y"`, text, text + "new\n"},
		{"nomatch_before", `line: new, insertbefore: "^y"`, text, text + "new\n"},
		{"regexp_wins", `line: b = 2, regexp: "^b", insertbefore: BOF`, text, "a\nx1\nb = 2\nx2\nc\n"},
		{"regexp_misses", `line: d = 1, regexp: "^d", insertafter: "^a"`, text, "a\nd = 1\nx1\nb\nx2\nc\n"},
		{"present", `line: b, insertbefore: BOF`, text, text},
		{"no_newline", `line: new, insertafter: "^x"`, "a\nx", "a\nx\nnew\n"},
	}
	var rb strings.Builder
	rb.WriteString("steps:\n")
	for _, c := range cases {
		p := filepath.Join(env.Dir, c.name)
		os.WriteFile(p, []byte(c.text), 0o644)
		fmt.Fprintf(&rb, "  - {name: %s, hosts: h1, task: line, with: {path: %s, %s}}\n", c.name, p, c.with)
	}
	r := env.Apply(rb.String(), "--check", "--diff")
	if r.Exit != tasktest.ExitDrift || r.Statuses()["present"] != engine.OK || !strings.Contains(r.Result("before").Diff, "+new") {
		t.Fatalf("check: %s", r)
	}
	if r = env.Apply(rb.String()); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	for _, c := range cases {
		if got, _ := os.ReadFile(filepath.Join(env.Dir, c.name)); string(got) != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if r = env.Apply(rb.String(), "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}
}

func TestLineInsertParamsAreValidated(t *testing.T) {
	env := tasktest.New(t)
	for with, want := range map[string]string{
		`line: x, insertafter: "^a", insertbefore: BOF`: "insertafter or insertbefore, not both",
		`line: x, insertafter: "("`:                     "insertafter: error parsing regexp",
		`regexp: x, state: absent, insertbefore: BOF`:   "insertbefore is used only with state: present",
	} {
		r := env.Apply(fmt.Sprintf("steps:\n  - {name: l, hosts: h1, task: line, with: {path: %s/f, %s}}\n", env.Dir, with))
		if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, want) || r.Result("l").Step != "" {
			t.Errorf("%s: want a validation error saying %q, got %s", with, want, r)
		}
	}
}
