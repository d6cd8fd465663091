package systemd_test

import (
	"strings"
	"testing"

	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

const masked = `
steps:
  - name: mask
    hosts: h1
    task: systemd
    with: {name: rb-mask, masked: true, state: stopped}
`

const unmasked = `
steps:
  - name: unmask
    hosts: h1
    task: systemd
    with: {name: rb-mask, masked: false, enabled: true, state: started}
`

func TestSystemdMaskTimeline(t *testing.T) {
	env := labkit.New(t)
	// A unit a package installed, enabled and running.
	env.Sh(`printf '[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n' >/lib/systemd/system/rb-mask.service &&
		systemctl daemon-reload && systemctl enable -q --now rb-mask`)
	state := func() string {
		return env.Sh("systemctl is-active rb-mask || true; systemctl is-enabled rb-mask || true")
	}
	r := env.Apply(masked, "--check")
	changes := strings.Join(r.Result("mask").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "~ mask (is enabled)") || !strings.Contains(changes, "~ stop") {
		t.Fatalf("first check: %q\n%s", changes, r)
	}
	if got := state(); got != "active\nenabled" {
		t.Fatalf("check mode changed the unit: %q", got)
	}
	if r = env.Apply(masked); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	if got := state(); got != "inactive\nmasked" {
		t.Errorf("after mask the unit is %q", got)
	}
	if got := env.Sh("readlink /etc/systemd/system/rb-mask.service"); got != "/dev/null" {
		t.Errorf("the mask is %q, want a link to /dev/null", got)
	}
	if r = env.Apply(masked, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}

	// Drift by hand: unmasked, started, then masked until reboot only.
	env.Sh("systemctl unmask -q rb-mask && systemctl start rb-mask && systemctl mask -q --runtime rb-mask")
	r = env.Apply(masked, "--check")
	changes = strings.Join(r.Result("mask").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "~ mask (is masked-runtime)") || !strings.Contains(changes, "~ stop") {
		t.Fatalf("drift: %q\n%s", changes, r)
	}
	if r = env.Apply(masked); r.Exit != 0 {
		t.Fatalf("repair: %s", r)
	}
	if got := env.Sh("systemctl is-active rb-mask || true; systemctl show -p UnitFileState --value rb-mask"); got != "inactive\nmasked" {
		t.Errorf("after repair the unit is %q", got)
	}
	if r = env.Apply(masked, "--check"); r.Exit != 0 {
		t.Fatalf("check after repair: %s", r)
	}

	// Unmasked (both masks), enabled and started again.
	r = env.Apply(unmasked, "--check")
	changes = strings.Join(r.Result("unmask").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "~ unmask") || !strings.Contains(changes, "~ start") {
		t.Fatalf("unmask check: %q\n%s", changes, r)
	}
	if r = env.Apply(unmasked); r.Exit != 0 {
		t.Fatalf("unmask: %s", r)
	}
	if got := state(); got != "active\nenabled" {
		t.Errorf("after unmask the unit is %q", got)
	}
	if r = env.Apply(unmasked, "--check"); r.Exit != 0 {
		t.Fatalf("check after unmask: %s", r)
	}
}

// A unit file of its own in /etc/systemd/system is where the mask's link
// would go: the step fails, in check mode too, saying so.
func TestSystemdMaskRefusesAUnitFileInTheWay(t *testing.T) {
	env := labkit.New(t)
	env.Sh(`printf '[Service]\nExecStart=/bin/sleep infinity\n' >/etc/systemd/system/rb-own.service && systemctl daemon-reload`)
	for _, flags := range [][]string{{"--check"}, nil} {
		r := env.Apply(`
steps:
  - {name: mask, hosts: h1, task: systemd, with: {name: rb-own, masked: true}}
`, flags...)
		if msg := r.Result("mask").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "/etc/systemd/system/rb-own.service is a unit file") {
			t.Fatalf("%v: %q\n%s", flags, msg, r)
		}
	}
	if got := env.Sh("test -f /etc/systemd/system/rb-own.service && ! test -L /etc/systemd/system/rb-own.service && echo kept"); got != "kept" {
		t.Errorf("the unit file was not left alone: %q", got)
	}
}
