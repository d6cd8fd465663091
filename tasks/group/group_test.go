package group_test

import (
	"strings"
	"testing"

	_ "github.com/runbookdev/runbook/tasks/group"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

const groups = `
steps:
  - {name: web, hosts: h1, task: group, with: {name: web, gid: 4321}}
  - {name: daemons, hosts: h1, task: group, with: {name: daemons, system: true}}
`

func TestGroupTimeline(t *testing.T) {
	env := labkit.New(t)
	r := env.Apply(groups, "--check")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("web").Changes, ";"), "+ create group web") {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("getent group web daemons || echo none"); got != "none" {
		t.Fatal("check mode created a group")
	}
	if r := env.Apply(groups); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("getent group web | cut -d: -f3"); got != "4321" {
		t.Errorf("web's gid = %q, want 4321", got)
	}
	if gid := env.Sh("getent group daemons | cut -d: -f3"); len(gid) > 3 {
		t.Errorf("a system group should have a system gid, got %s", gid)
	}
	if r := env.Apply(groups, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}

	// Drift: the gid changed by hand is reported as exactly that.
	env.Sh("groupmod --gid 4400 web")
	r = env.Apply(groups, "--check")
	if changes := strings.Join(r.Result("web").Changes, ";"); r.Exit != tasktest.ExitDrift || changes != "~ gid 4400 -> 4321" {
		t.Fatalf("drift %q: %s", changes, r)
	}
	if got := env.Sh("getent group web | cut -d: -f3"); got != "4400" {
		t.Fatal("check mode repaired the drift")
	}
	if r = env.Apply(groups); r.Exit != 0 {
		t.Fatalf("repair: %s", r)
	}
	if r = env.Apply(groups, "--check"); r.Exit != 0 {
		t.Fatalf("after repair: %s", r)
	}

	gone := "steps:\n  - {name: web, hosts: h1, task: group, with: {name: web, state: absent}}\n"
	if r = env.Apply(gone, "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("check removal: %s", r)
	}
	if r = env.Apply(gone); r.Exit != 0 {
		t.Fatalf("remove: %s", r)
	}
	if r = env.Apply(gone, "--check"); r.Exit != 0 {
		t.Fatalf("after removal: %s", r)
	}
	if got := env.Sh("getent group web || echo gone"); got != "gone" {
		t.Errorf("after removal: %q", got)
	}
}
