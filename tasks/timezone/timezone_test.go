package timezone_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
	_ "github.com/runbookdev/runbook/tasks/timezone"
)

const berlin = `
steps:
  - {name: tz, hosts: h1, task: timezone, with: {name: Europe/Berlin}}
`

func TestTimezoneTimeline(t *testing.T) {
	env := labkit.New(t)
	if got := env.Sh("[ -f /usr/share/zoneinfo/Europe/Berlin ] && echo ok || echo missing"); got != "ok" {
		// The host has no tzdata: install it as an operator would.
		if r := env.Apply("steps:\n  - {name: tzdata, hosts: h1, task: package, with: {name: [tzdata]}}\n"); r.Exit != tasktest.ExitOK {
			t.Fatalf("install tzdata: %s", r)
		}
	}
	before := env.Sh("readlink /etc/localtime; cat /etc/timezone")
	r := env.Apply(berlin, "--check", "--diff")
	changes := strings.Join(r.Result("tz").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "/etc/localtime -> /usr/share/zoneinfo/Europe/Berlin") || !strings.Contains(changes, "/etc/timezone") {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("readlink /etc/localtime; cat /etc/timezone"); got != before {
		t.Fatalf("check mode changed the host: %q, was %q", got, before)
	}
	if r = env.Apply(berlin); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	// The zone is in force: what libc and systemd make of it.
	if got := env.Sh("date -d '2024-01-15 12:00 UTC' +%H:%Z; cat /etc/timezone; timedatectl show -p Timezone --value"); got != "13:CET\nEurope/Berlin\nEurope/Berlin" {
		t.Fatalf("after apply: %q", got)
	}
	if r = env.Apply(berlin, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}

	// Drift by hand, as an operator or tzdata's own tools would leave it.
	for _, drift := range []struct{ cmd, want string }{
		{"ln -sf /usr/share/zoneinfo/Asia/Tokyo /etc/localtime", "was -> /usr/share/zoneinfo/Asia/Tokyo"},
		{"echo Etc/UTC >/etc/timezone", "/etc/timezone"},
		{"rm /etc/localtime && cp /usr/share/zoneinfo/Europe/Berlin /etc/localtime", "replace regular file /etc/localtime with a link"},
	} {
		env.Sh(drift.cmd)
		r = env.Apply(berlin, "--check")
		if changes := strings.Join(r.Result("tz").Changes, ";"); r.Exit != tasktest.ExitDrift || !strings.Contains(changes, drift.want) {
			t.Fatalf("after %q, check: %s", drift.cmd, r)
		}
		if r = env.Apply(berlin); r.Exit != tasktest.ExitOK {
			t.Fatalf("after %q, repair: %s", drift.cmd, r)
		}
		if r = env.Apply(berlin, "--check"); r.Exit != tasktest.ExitOK {
			t.Fatalf("after %q, check after repair: %s", drift.cmd, r)
		}
	}

	// timedated, which caches the zone it read, agrees after the repairs.
	if got := env.Sh("timedatectl show -p Timezone --value"); got != "Europe/Berlin" {
		t.Fatalf("timedatectl after the repairs: %q", got)
	}

	// Without timedatectl the link is replaced directly.
	env.Sh("chmod a-x /usr/bin/timedatectl")
	if got := env.Sh("command -v timedatectl || echo none"); got != "none" {
		t.Fatalf("timedatectl is still found: %s", got)
	}
	tokyo := strings.ReplaceAll(berlin, "Europe/Berlin", "Asia/Tokyo")
	if r = env.Apply(tokyo); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply without timedatectl: %s", r)
	}
	if got := env.Sh("readlink /etc/localtime; cat /etc/timezone; ls -a /etc | grep -c runbook || true"); got != "/usr/share/zoneinfo/Asia/Tokyo\nAsia/Tokyo\n0" {
		t.Fatalf("after apply without timedatectl: %q", got)
	}
	if r = env.Apply(tokyo, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check without timedatectl: %s", r)
	}
	env.Sh("chmod a+x /usr/bin/timedatectl")

	// A well-formed name the host has no file for is an error, not drift.
	r = env.Apply(strings.ReplaceAll(berlin, "Europe/Berlin", "Mars/Olympus_Mons"), "--check")
	if r.Exit != tasktest.ExitError || !strings.Contains(r.String(), "tzdata") {
		t.Fatalf("unknown zone: %s", r)
	}
}

// A name that is no zone name is refused before any host is contacted.
func TestTimezoneRefusesBadNames(t *testing.T) {
	for _, name := range []string{`"../../etc/passwd"`, `"Europe/../Berlin"`, `"/Europe/Berlin"`, `"Europe/Berlin "`, `"Europe//Berlin"`, `"a;b"`, `""`} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: timezone, with: {name: "+name+"}}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, "name") {
			t.Errorf("%s: %s", name, r)
		}
	}
	for _, name := range []string{"Europe/Berlin", "UTC", "Etc/GMT+5", "America/Argentina/Buenos_Aires", "America/Port-au-Prince"} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: timezone, with: {name: "+name+"}}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitOK {
			t.Errorf("%s: %s", name, r)
		}
	}
}
