package sysctl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/runbookdev/runbook/tasks/sysctl"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

const forward = `
steps:
  - {name: forward, hosts: h1, task: sysctl, with: {name: net.ipv4.ip_forward, value: "1", file: /etc/sysctl.d/60-forward.conf}}
`

func TestSysctlTimeline(t *testing.T) {
	env := labkit.New(t)
	env.Sh("sysctl -q -w net.ipv4.ip_forward=0")
	r := env.Apply(forward, "--check")
	changes := strings.Join(r.Result("forward").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "+ create /etc/sysctl.d/60-forward.conf") || !strings.Contains(changes, "~ net.ipv4.ip_forward 0 -> 1 (running kernel)") {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("sysctl -n net.ipv4.ip_forward"); got != "0" {
		t.Fatalf("check mode set it: %s", got)
	}
	if r = env.Apply(forward); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("sysctl -n net.ipv4.ip_forward; cat /etc/sysctl.d/60-forward.conf"); got != "1\nnet.ipv4.ip_forward = 1" {
		t.Fatalf("after apply: %q", got)
	}
	if r = env.Apply(forward, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}
	// What sysctl --system would load at boot agrees.
	env.Sh("sysctl -q -w net.ipv4.ip_forward=0 && sysctl -q -p /etc/sysctl.d/60-forward.conf")
	if got := env.Sh("sysctl -n net.ipv4.ip_forward"); got != "1" {
		t.Fatalf("the file does not set it: %s", got)
	}

	// Drift by hand, in the kernel and in the file.
	env.Sh("sysctl -q -w net.ipv4.ip_forward=0 && sed -i 's/= 1/= 0/' /etc/sysctl.d/60-forward.conf")
	r = env.Apply(forward, "--check")
	changes = strings.Join(r.Result("forward").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "/etc/sysctl.d/60-forward.conf") || !strings.Contains(changes, "0 -> 1 (running kernel)") {
		t.Fatalf("drift check: %s", r)
	}
	if r = env.Apply(forward); r.Exit != tasktest.ExitOK {
		t.Fatalf("repair: %s", r)
	}
	if r = env.Apply(forward, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after repair: %s", r)
	}
	if got := env.Sh("cat /etc/sysctl.d/60-forward.conf"); got != "net.ipv4.ip_forward = 1" {
		t.Fatalf("file after repair: %q", got)
	}

	absent := `
steps:
  - {name: forward, hosts: h1, task: sysctl, with: {name: net/ipv4/ip_forward, state: absent, file: /etc/sysctl.d/60-forward.conf}}
`
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK || r.Result("forward").Status != "changed" {
		t.Fatalf("absent: %s", r)
	}
	if got := env.Sh("cat /etc/sysctl.d/60-forward.conf"); got != "" {
		t.Fatalf("file after absent: %q", got)
	}
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent, second check: %s", r)
	}
}

// A name that is no parameter, or a value of two lines, is refused
// before any host is contacted: runbook validate says so.
func TestSysctlRefusesBadInput(t *testing.T) {
	for _, with := range []string{`{name: "net.ipv4.ip_forward; reboot", value: "1"}`, `{name: net.ipv4.ip_forward, value: "1\n2"}`, `{name: net.ipv4.ip_forward}`} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: sysctl, with: "+with+"}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitError {
			t.Errorf("%s: %s", with, r)
		}
	}
	f := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: sysctl, with: {name: net.ipv4.ip_forward, value: \"1\"}}\n"), 0o644)
	if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitOK {
		t.Errorf("a good one: %s", r)
	}
}
