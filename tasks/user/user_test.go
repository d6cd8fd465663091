package user_test

import (
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/group"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
	_ "github.com/runbookdev/runbook/tasks/user"
)

const consulUser = `
steps:
  - {name: group, hosts: h1, task: group, with: {name: consul, system: true}}
  - {name: extra, hosts: h1, task: group, with: {name: observers, gid: 4321}}
  - name: user
    hosts: h1
    task: user
    with: {name: consul, group: consul, groups: [observers], system: true, home: /etc/consul.d, shell: /usr/sbin/nologin, comment: Consul agent}
`

func TestUserAndGroupTimeline(t *testing.T) {
	env := labkit.New(t)
	if r := env.Apply(consulUser, "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("getent passwd consul || echo none"); got != "none" {
		t.Fatal("check mode created the user")
	}
	if r := env.Apply(consulUser); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("getent passwd consul | cut -d: -f5-7; id -Gn consul; getent group observers | cut -d: -f3"); got != "Consul agent:/etc/consul.d:/usr/sbin/nologin\nconsul observers\n4321" {
		t.Errorf("account: %q", got)
	}
	if uid := env.Sh("id -u consul"); len(uid) > 3 {
		t.Errorf("a system user should have a system uid, got %s", uid)
	}
	if r := env.Apply(consulUser, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}
	env.Sh("usermod --shell /bin/bash consul && gpasswd -d consul observers >/dev/null")
	r := env.Apply(consulUser, "--check")
	changes := strings.Join(r.Result("user").Changes, ";")
	if r.Exit != tasktest.ExitDrift || r.Statuses()["group"] != engine.OK || !strings.Contains(changes, "~ shell /bin/bash -> /usr/sbin/nologin") || !strings.Contains(changes, "~ groups [] -> [observers]") {
		t.Fatalf("drift %q: %s", changes, r)
	}
	if r = env.Apply(consulUser); r.Exit != 0 {
		t.Fatalf("repair: %s", r)
	}
	if r = env.Apply(consulUser, "--check"); r.Exit != 0 {
		t.Fatalf("after repair: %s", r)
	}
	gone := "steps:\n  - {name: user, hosts: h1, task: user, with: {name: consul, state: absent}}\n  - {name: group, hosts: h1, task: group, with: {name: observers, state: absent}}\n"
	if r = env.Apply(gone); r.Exit != 0 {
		t.Fatalf("remove: %s", r)
	}
	if got := env.Sh("getent passwd consul || getent group observers || echo gone"); got != "gone" {
		t.Errorf("after removal: %q", got)
	}
}
