package command_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/sshtest"
	_ "github.com/runbookdev/runbook/tasks/command"
	_ "github.com/runbookdev/runbook/tasks/file"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

func TestCommandGuardsTimeline(t *testing.T) {
	env := tasktest.New(t)
	built := filepath.Join(env.Dir, "built")
	stamp := filepath.Join(env.Dir, "stamp")
	rb := fmt.Sprintf(`
steps:
  - {name: creates, hosts: h1, task: command, with: {cmd: "echo v1 > built", chdir: %[1]s, creates: built}}
  - {name: unless, hosts: h1, task: command, with: {cmd: "echo ok > %[2]s", unless: "grep -q ok %[2]s"}}
  - {name: removes, hosts: h1, task: command, with: {cmd: "rm %[1]s/tmp", removes: "%[1]s/tmp"}}
`, env.Dir, stamp)
	os.WriteFile(filepath.Join(env.Dir, "tmp"), nil, 0o644)

	before := tasktest.Snapshot(t, env.Dir)
	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift {
		t.Fatalf("first check: %s", r)
	}
	for step, st := range r.Statuses() {
		if st != engine.Changed {
			t.Errorf("first check: %s = %s, want changed", step, st)
		}
	}
	if tasktest.Snapshot(t, env.Dir) != before {
		t.Fatal("check mode ran a command")
	}

	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if data, _ := os.ReadFile(built); string(data) != "v1\n" {
		t.Errorf("built = %q", data)
	}

	r = env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}
	// Drift: the stamp loses its content; the others stay in place.
	os.WriteFile(stamp, []byte("bad\n"), 0o644)
	r = env.Apply(rb, "--check")
	st := r.Statuses()
	if r.Exit != tasktest.ExitDrift || st["unless"] != engine.Changed || st["creates"] != engine.OK || st["removes"] != engine.OK {
		t.Fatalf("drift check: %v\n%s", st, r)
	}
}

// A command without creates, removes or unless runs, and reports changed,
// every time: check mode says it would, without running it.
func TestUnguardedCommandWouldChangeInCheckMode(t *testing.T) {
	env := tasktest.New(t)
	marker := filepath.Join(env.Dir, "ran")
	rb := fmt.Sprintf("steps:\n  - {name: always, hosts: h1, task: command, with: {cmd: \"touch %s\"}}\n", marker)
	r := env.Apply(rb, "--check")
	ev := r.Result("always")
	if r.Exit != tasktest.ExitDrift || ev.Status != engine.Changed || ev.Unknown || strings.Join(ev.Changes, "") != "run: touch "+marker {
		t.Fatalf("%s", r)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Fatal("check mode ran the command")
	}
	r = env.Apply(rb)
	if r.Exit != tasktest.ExitOK || r.Result("always").Status != engine.Changed {
		t.Fatalf("%s", r)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("apply did not run the command")
	}
}

func TestRegisterExitCodesEnvAndStdin(t *testing.T) {
	env := tasktest.New(t)
	out := filepath.Join(env.Dir, "out")
	rb := fmt.Sprintf(`
steps:
  - name: produce
    hosts: h1
    task: command
    with: {cmd: 'printf "%%s-%%s" "$GREETING" "$(cat)"; exit 3', env: {GREETING: hi}, stdin: there, ok_codes: [0, 3]}
    register: p
  - name: consume
    hosts: h1
    task: file
    with: {path: %s, content: "{{ .p.stdout }} rc={{ .p.rc }}"}
  - {name: fails, hosts: h1, task: command, with: {cmd: "echo nope >&2; exit 4"}}
`, out)
	r := env.Apply(rb)
	if r.Exit != tasktest.ExitError {
		t.Fatalf("want exit 1 for the failing step: %s", r)
	}
	if data, _ := os.ReadFile(out); string(data) != "hi-there rc=3" {
		t.Errorf("out = %q", data)
	}
	if msg := r.Result("fails").Message; !strings.Contains(msg, "exit status 4: nope") {
		t.Errorf("failure message = %q", msg)
	}
}

func TestBecome(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: the become test logs in as root and sudoes to nobody (CI runs as root)")
	}
	if _, err := os.Stat("/usr/bin/sudo"); err != nil {
		t.Fatal("sudo is missing: run `make setup`")
	}
	env := tasktest.New(t)
	shared, err := os.MkdirTemp("", "runbook-become-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(shared)
	// Sticky, like /tmp: a directory anyone may write, where root writes
	// only because nobody can replace root's entries.
	os.Chmod(shared, os.ModeSticky|0o777)
	rb := fmt.Sprintf(`
steps:
  - {name: who, hosts: h1, task: command, with: {cmd: id -un, read_only: true}, become_user: nobody, register: who}
  - {name: record, hosts: h1, task: file, with: {path: %[1]s/who, content: "{{ .who.stdout }}"}}
  - {name: as nobody, hosts: h1, task: file, with: {path: %[1]s/mine, content: x, mode: "0600"}, become: true, become_user: nobody}
`, shared)
	if r := env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("%s", r)
	}
	if data, _ := os.ReadFile(filepath.Join(shared, "who")); string(data) != "nobody" {
		t.Errorf("command ran as %q, want nobody", data)
	}
	out, _ := exec.Command("stat", "-c", "%U %a", filepath.Join(shared, "mine")).Output()
	if strings.TrimSpace(string(out)) != "nobody 600" {
		t.Errorf("file written as nobody: stat = %q", out)
	}
	if r := env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Errorf("second check through sudo: %s", r)
	}
}

func TestCheckModeWithValuesFromStepsThatDidNotRun(t *testing.T) {
	env := tasktest.New(t)
	out := filepath.Join(env.Dir, "out")
	rb := fmt.Sprintf(`
steps:
  - {name: build, hosts: h1, task: command, with: {cmd: "echo v2"}, register: build}
  - {name: use, hosts: h1, task: file, with: {path: %s, content: "{{ .build.stdout }}"}}
`, out)
	r := env.Apply(rb, "--check")
	ev := r.Result("use")
	if r.Exit != tasktest.ExitDrift || ev.Status != engine.Changed || !strings.Contains(strings.Join(ev.Changes, ""), ".build come from steps that did not run in check mode") {
		t.Fatalf("a value check mode could not produce is unknown, not a failure: %s", r)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("%s", r)
	}
	if data, _ := os.ReadFile(out); string(data) != "v2" {
		t.Errorf("out = %q", data)
	}
}

// A command's text, with the secrets rendered into it, is in no process's
// argv on the host, where every local user could read it in ps.
func TestCommandNotInArgv(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	env := tasktest.New(t)
	loot := filepath.Join(hostile.Dir(t), "loot")
	if err := os.Mkdir(loot, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, loot)
	// The pattern does not match its own grep's argv.
	hostile.Start(t, fmt.Sprintf(`while :; do
  grep -a -o -e 'hunter2-[S]ECRET' /proc/[0-9]*/cmdline >>%s/found 2>/dev/null
done`, loot))
	rb := `
vars:
  token: !secret hunter2-SECRET
steps:
  - {name: plain, hosts: h1, task: command, with: {cmd: "t={{ .token }}; sleep 0.7"}}
  - {name: env and stdin, hosts: h1, task: command, with: {cmd: "t={{ .token }}; sleep 0.7; cat >/dev/null", chdir: /, env: {A: b}, stdin: x}}
  - {name: guarded, hosts: h1, task: command, with: {cmd: "t={{ .token }}; sleep 0.7", unless: "t={{ .token }}; sleep 0.7; false"}}
`
	if r := env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if found, _ := os.ReadFile(filepath.Join(loot, "found")); len(found) > 0 {
		t.Fatalf("another local user read the command in argv: %s", found)
	}
}
