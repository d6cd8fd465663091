package reboot_test

import (
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/command"
	_ "github.com/runbookdev/runbook/tasks/reboot"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

// A marker in /run (a tmpfs) is gone after a reboot; a file on disk stays.
const rebootRunbook = `
steps:
  - {name: mark, hosts: h1, task: command, with: {cmd: "echo gone > /run/rb-marker && echo kept > /root/rb-disk && sync"}}
  - {name: reboot, hosts: h1, task: reboot, register: rb, with: {reboot_timeout: 3m, connect_timeout: 10s}}
  - name: after
    hosts: h1
    task: command
    with: {cmd: "test ! -e /run/rb-marker && cat /root/rb-disk && cat /proc/sys/kernel/random/boot_id && echo '{{ .rb.boot_id_before }} {{ .rb.boot_id_after }}'"}
`

// check -> apply (reboot, then a later step on the new connection) ->
// check again: a reboot always would change, and the run goes on on the
// host once it is back.
func TestRebootTimeline(t *testing.T) {
	env := labkit.New(t)
	before := env.Sh("cat /proc/sys/kernel/random/boot_id")

	r := env.Apply(rebootRunbook, "--check")
	if r.Exit != tasktest.ExitDrift || r.Result("reboot").Status != engine.Changed {
		t.Fatalf("check: %s", r)
	}
	if got := env.Sh("cat /proc/sys/kernel/random/boot_id"); got != before {
		t.Fatalf("check mode rebooted the host: boot id %s -> %s", before, got)
	}

	r = env.Apply(rebootRunbook)
	if r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if ev := r.Result("reboot"); ev.Status != engine.Changed || !strings.Contains(strings.Join(ev.Changes, ";"), "rebooted: back after") {
		t.Fatalf("reboot step: %s", r)
	}
	after := r.Result("after")
	lines := strings.Split(strings.TrimSpace(after.Stdout), "\n")
	if after.Status != engine.Changed || len(lines) != 3 || lines[0] != "kept" {
		t.Fatalf("the step after the reboot (marker in /run gone, file on disk kept): %s", r)
	}
	if lines[1] == before {
		t.Errorf("the step after the reboot ran in the old boot %s", before)
	}
	if want := before + " " + lines[1]; lines[2] != want {
		t.Errorf("registered boot ids %q, want %q", lines[2], want)
	}
	var recap *engine.Stats
	for _, ev := range r.Events {
		if ev.Type == engine.Recap {
			recap = ev.Recap["h1"]
		}
	}
	if recap == nil || recap.Failed != 0 || recap.Unreachable != 0 {
		t.Errorf("recap for h1: %+v\n%s", recap, r)
	}

	// Nothing to compare: a check still says it would reboot.
	if r = env.Apply(rebootRunbook, "--check"); r.Exit != tasktest.ExitDrift || r.Result("reboot").Status != engine.Changed {
		t.Fatalf("check after apply: %s", r)
	}
}

// A host that does not come back within reboot_timeout fails the step,
// saying so; the run stops there for it.
func TestRebootHostThatDoesNotComeBack(t *testing.T) {
	env := labkit.New(t)
	r := env.Apply(`
steps:
  - {name: reboot, hosts: h1, task: reboot, with: {reboot_command: systemctl poweroff, reboot_timeout: 20s, connect_timeout: 3s}}
  - {name: after, hosts: h1, task: command, with: {cmd: "true"}}
`)
	ev := r.Result("reboot")
	if r.Exit != tasktest.ExitError || ev.Status != engine.Failed || !strings.Contains(ev.Message, "h1 did not come back within reboot_timeout 20s") {
		t.Fatalf("a host powered off: %s", r)
	}
	if got := r.Result("after").Status; got != "" {
		t.Errorf("the step after a failed reboot ran: %s", got)
	}
}
