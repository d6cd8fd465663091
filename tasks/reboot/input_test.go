package reboot_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/reboot"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

// Bad parameters are refused before any host is contacted, naming the
// parameter.
func TestRebootRefusesBadInput(t *testing.T) {
	for with, want := range map[string]string{
		`{reboot_timeout: -1m}`:                          "want a duration of 0 or more",
		`{reboot_command: "shutdown -r now", msg: "hi"}`: "msg is for the default reboot command",
		`{test_command: " "}`:                            "test_command is blank",
		`{pre_reboot_delay: 1500ms}`:                     "pre_reboot_delay is in whole seconds",
		`{reboot_timout: 5m}`:                            "reboot_timout",
	} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: reboot, with: "+with+"}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitError || !strings.Contains(r.String(), want) {
			t.Errorf("%s: want an error saying %q: %s", with, want, r)
		}
	}
	f := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: reboot, with: {reboot_timeout: 5m, msg: kernel}}\n"), 0o644)
	if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitOK {
		t.Errorf("a good one: %s", r)
	}
}

// The controller itself cannot be reconnected to: Check refuses before
// anything runs (Apply, which reboots, is never reached).
func TestRebootRefusesTheController(t *testing.T) {
	_, err := new(reboot.Reboot).Check(context.Background(), &tasks.Host{Name: "localhost", Conn: transport.Local{}})
	if err == nil || !strings.Contains(err.Error(), "cannot be made again") {
		t.Fatalf("Check on the controller = %v, want a refusal", err)
	}
}
