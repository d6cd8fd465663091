package systemd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

// A unit file from a template file beside the runbook, rendered with the
// step's variables as the template module renders.
func TestSystemdUnitFromTemplateFileTimeline(t *testing.T) {
	env := labkit.New(t)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "units"), 0o755); err != nil {
		t.Fatal(err)
	}
	unit := "[Unit]\nDescription=greets {{ .who }}\n[Service]\nExecStart=/bin/sh -c 'echo {{ .who }} > /run/rb-src; exec sleep infinity'\n"
	if err := os.WriteFile(filepath.Join(dir, "units", "rb-src.service.tmpl"), []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	rb := filepath.Join(dir, "runbook.yaml")
	if err := os.WriteFile(rb, []byte(`
vars: {who: world}
steps:
  - name: unit
    hosts: h1
    task: systemd
    with: {name: rb-src, src: units/rb-src.service.tmpl, state: started}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := env.ApplyFile(rb, "--check", "--diff")
	if ev := r.Result("unit"); r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(ev.Changes, ";"), "+ create /etc/systemd/system/rb-src.service") {
		t.Fatalf("first check: %s", r)
	}
	if r = env.ApplyFile(rb); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("systemctl is-active rb-src; cat /run/rb-src; grep Description /etc/systemd/system/rb-src.service"); got != "active\nworld\nDescription=greets world" {
		t.Errorf("rb-src is %q", got)
	}
	if r = env.ApplyFile(rb, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}

	// Drift by hand: the unit file edited.
	env.Sh("sed -i 's/greets world/greets nobody/' /etc/systemd/system/rb-src.service")
	r = env.ApplyFile(rb, "--check", "--diff")
	ev := r.Result("unit")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(ev.Changes, ";"), "~ content /etc/systemd/system/rb-src.service") ||
		!strings.Contains(ev.Diff, "-Description=greets nobody") || !strings.Contains(ev.Diff, "+Description=greets world") {
		t.Fatalf("drift: %+v\n%s", ev, r)
	}
	if r = env.ApplyFile(rb); r.Exit != 0 {
		t.Fatalf("repair: %s", r)
	}

	// Another value renders another unit, which restarts the service.
	if r = env.ApplyFile(rb, "-e", "who=moon"); r.Exit != 0 || r.Result("unit").Status != engine.Changed {
		t.Fatalf("new value: %s", r)
	}
	if got := env.Sh("cat /run/rb-src"); got != "moon" {
		t.Errorf("the service was not restarted with its new unit: it wrote %q", got)
	}
	if r = env.ApplyFile(rb, "-e", "who=moon", "--check"); r.Exit != 0 {
		t.Fatalf("check after the new value: %s", r)
	}
}
