package systemd_test

import (
	"strings"
	"testing"

	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

// A template unit (rb-echo@.service) is written by naming it with its
// empty instance, and its instances are enabled and started by name.
const echoes = `
steps:
  - name: template
    hosts: h1
    task: systemd
    with:
      name: rb-echo@
      content: |
        [Unit]
        Description=echo %i
        [Service]
        ExecStart=/bin/sh -c 'echo %i > /run/rb-echo-%i; exec sleep infinity'
        [Install]
        WantedBy=multi-user.target
  - name: one
    hosts: h1
    task: systemd
    with: {name: rb-echo@one, enabled: true, state: started}
`

func TestSystemdTemplateUnitTimeline(t *testing.T) {
	env := labkit.New(t)
	r := env.Apply(echoes, "--check")
	if r.Exit != tasktest.ExitDrift {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("ls /etc/systemd/system/rb-echo@.service 2>/dev/null || echo none"); got != "none" {
		t.Fatal("check mode wrote the template")
	}
	if r = env.Apply(echoes); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("systemctl is-active rb-echo@one; systemctl is-enabled rb-echo@one; cat /run/rb-echo-one"); got != "active\nenabled\none" {
		t.Errorf("rb-echo@one is %q", got)
	}
	if got := env.Sh("systemctl is-active rb-echo@two; systemctl is-enabled rb-echo@two || true"); got != "inactive\ndisabled" {
		t.Errorf("rb-echo@two is %q: only the instance named should be touched", got)
	}
	if r = env.Apply(echoes, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}

	// Drift by hand: the instance stopped and disabled, the template edited.
	env.Sh("systemctl disable -q --now rb-echo@one && echo '# edited' >> /etc/systemd/system/rb-echo@.service")
	r = env.Apply(echoes, "--check")
	changes := strings.Join(append(r.Result("template").Changes, r.Result("one").Changes...), ";")
	for _, want := range []string{"~ content /etc/systemd/system/rb-echo@.service", "~ enable", "~ start"} {
		if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, want) {
			t.Fatalf("drift: want %q in %q\n%s", want, changes, r)
		}
	}
	if r = env.Apply(echoes); r.Exit != 0 {
		t.Fatalf("repair: %s", r)
	}
	if got := env.Sh("systemctl is-active rb-echo@one; systemctl is-enabled rb-echo@one"); got != "active\nenabled" {
		t.Errorf("after repair rb-echo@one is %q", got)
	}
	if r = env.Apply(echoes, "--check"); r.Exit != 0 {
		t.Fatalf("check after repair: %s", r)
	}
}
