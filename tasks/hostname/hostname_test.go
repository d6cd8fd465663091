package hostname_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/runbookdev/runbook/tasks/hostname"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

const rename = `
steps:
  - {name: name, hosts: h1, task: hostname, with: {name: web01.example.com}}
`

func TestHostnameTimeline(t *testing.T) {
	env := labkit.New(t)
	before := env.Sh("uname -n; cat /etc/hostname /etc/hosts")
	r := env.Apply(rename, "--check", "--diff")
	changes := strings.Join(r.Result("name").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "/etc/hostname") || !strings.Contains(changes, "-> web01.example.com") || !strings.Contains(changes, "/etc/hosts") {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("uname -n; cat /etc/hostname /etc/hosts"); got != before {
		t.Fatalf("check mode changed the host: %q, was %q", got, before)
	}
	if r = env.Apply(rename); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("uname -n; cat /etc/hostname; grep 127.0.1.1 /etc/hosts"); got != "web01.example.com\nweb01.example.com\n127.0.1.1\tweb01.example.com\tweb01" {
		t.Fatalf("after apply: %q", got)
	}
	// The name resolves without DNS, and systemd agrees where it runs.
	if got := env.Sh("getent hosts web01 | tr -s ' \t' ' '"); got != "127.0.1.1 web01.example.com web01" {
		t.Fatalf("getent hosts web01: %q", got)
	}
	if got := env.Sh("hostnamectl --static"); got != "web01.example.com" {
		t.Fatalf("hostnamectl --static: %q", got)
	}
	if got := env.Sh("grep -c . /etc/hosts"); got != "3" {
		t.Fatalf("/etc/hosts gained or lost lines: %s", env.Sh("cat /etc/hosts"))
	}
	if r = env.Apply(rename, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}

	// Drift by hand, one place at a time: each is found, and repaired.
	for _, drift := range []struct{ cmd, want string }{
		{"hostname other", "~ running host name other -> web01.example.com"},
		{"echo other >/etc/hostname", "/etc/hostname"},
		{"sed -i 's/^127.0.1.1.*/127.0.1.1 other/' /etc/hosts", "/etc/hosts"},
	} {
		env.Sh(drift.cmd)
		r = env.Apply(rename, "--check")
		if changes := strings.Join(r.Result("name").Changes, ";"); r.Exit != tasktest.ExitDrift || !strings.Contains(changes, drift.want) {
			t.Fatalf("after %q, check: %s", drift.cmd, r)
		}
		if r = env.Apply(rename); r.Exit != tasktest.ExitOK {
			t.Fatalf("after %q, repair: %s", drift.cmd, r)
		}
		if r = env.Apply(rename, "--check"); r.Exit != tasktest.ExitOK {
			t.Fatalf("after %q, check after repair: %s", drift.cmd, r)
		}
	}
	if got := env.Sh("uname -n; cat /etc/hostname; grep 127.0.1.1 /etc/hosts"); got != "web01.example.com\nweb01.example.com\n127.0.1.1\tweb01.example.com\tweb01" {
		t.Fatalf("after the repairs: %q", got)
	}

	// A short name, with /etc/hosts left to another step.
	short := `
steps:
  - {name: name, hosts: h1, task: hostname, with: {name: db01, update_hosts: false}}
`
	if r = env.Apply(short); r.Exit != tasktest.ExitOK {
		t.Fatalf("short name: %s", r)
	}
	if got := env.Sh("uname -n; cat /etc/hostname; grep 127.0.1.1 /etc/hosts"); got != "db01\ndb01\n127.0.1.1\tweb01.example.com\tweb01" {
		t.Fatalf("after the short name: %q", got)
	}
}

// A name that is no host name is refused before any host is contacted.
func TestHostnameRefusesBadNames(t *testing.T) {
	for _, name := range []string{`"web 01"`, `"-web"`, `"web-"`, `"web..example"`, `"web_01"`, `"a;reboot"`, `""`, `"` + strings.Repeat("a", 65) + `"`, `"` + strings.Repeat("a", 64) + `.b"`} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: hostname, with: {name: "+name+"}}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, "name") {
			t.Errorf("%s: %s", name, r)
		}
	}
	for _, name := range []string{"web01", "web-01.example.com", "WEB01", "1a"} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: hostname, with: {name: "+name+"}}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitOK {
			t.Errorf("%s: %s", name, r)
		}
	}
}
