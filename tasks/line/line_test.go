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
