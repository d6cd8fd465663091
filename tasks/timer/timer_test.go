package timer_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
	_ "github.com/runbookdev/runbook/tasks/timer"
)

// The command holds what systemd would otherwise expand ($, %) or
// unquote ("), as a shell one-liner does.
const every3s = `
steps:
  - name: tick
    hosts: h1
    task: timer
    with: {name: rb-tick, on_calendar: "*:*:0/3", command: 'echo "fired $(date +%s) as $(id -un)" >>/tmp/timer-fired', persistent: true}
`

func TestTimerTimeline(t *testing.T) {
	env := labkit.New(t)
	r := env.Apply(every3s, "--check", "--diff")
	changes := strings.Join(r.Result("tick").Changes, ";")
	for _, want := range []string{"+ create /etc/systemd/system/rb-tick.timer", "+ create /etc/systemd/system/rb-tick.service", "~ enable rb-tick.timer", "~ start rb-tick.timer"} {
		if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, want) {
			t.Fatalf("first check, want %q: %s", want, r)
		}
	}
	if got := env.Sh("ls /etc/systemd/system/rb-tick.timer 2>&1 || true"); !strings.Contains(got, "No such file") {
		t.Fatalf("check mode wrote the unit: %s", got)
	}
	if r = env.Apply(every3s); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("systemctl is-enabled rb-tick.timer; systemctl is-active rb-tick.timer; stat -c '%a %U' /etc/systemd/system/rb-tick.timer /etc/systemd/system/rb-tick.service"); got != "enabled\nactive\n644 root\n644 root" {
		t.Fatalf("after apply: %q", got)
	}
	if r = env.Apply(every3s, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}
	waitFired(t, env)

	// Drift by hand: the schedule edited (and reloaded), the timer stopped
	// and disabled.
	for _, drift := range []struct {
		cmd  string
		want []string
	}{
		{"sed -i 's|^OnCalendar=.*|OnCalendar=daily|' /etc/systemd/system/rb-tick.timer && systemctl daemon-reload",
			[]string{"~ content /etc/systemd/system/rb-tick.timer", "~ restart rb-tick.timer: its schedule changed"}},
		{"systemctl disable -q --now rb-tick.timer", []string{"~ enable rb-tick.timer (is disabled)", "~ start rb-tick.timer (is inactive)"}},
	} {
		env.Sh(drift.cmd)
		r = env.Apply(every3s, "--check")
		changes := strings.Join(r.Result("tick").Changes, ";")
		for _, want := range drift.want {
			if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, want) {
				t.Fatalf("after %q, check, want %q: %s", drift.cmd, want, r)
			}
		}
		if r = env.Apply(every3s); r.Exit != tasktest.ExitOK {
			t.Fatalf("after %q, repair: %s", drift.cmd, r)
		}
		if r = env.Apply(every3s, "--check"); r.Exit != tasktest.ExitOK {
			t.Fatalf("after %q, check after repair: %s", drift.cmd, r)
		}
	}
	// It fires again on the schedule it was given back.
	env.Sh("rm -f /tmp/timer-fired")
	waitFired(t, env)

	// A calendar event systemd does not know is an error at check.
	bad := strings.ReplaceAll(every3s, `"*:*:0/3"`, `"every tuesday"`)
	if r = env.Apply(bad, "--check"); r.Exit != tasktest.ExitError || !strings.Contains(r.String(), "is not a calendar event") {
		t.Fatalf("bad on_calendar: %s", r)
	}

	absent := "steps:\n  - {name: tick, hosts: h1, task: timer, with: {name: rb-tick, state: absent}}\n"
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK || r.Result("tick").Status != "changed" {
		t.Fatalf("absent: %s", r)
	}
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent, second check: %s", r)
	}
	if got := env.Sh("ls /etc/systemd/system/ | grep -c rb-tick || true; systemctl is-active rb-tick.timer || true"); got != "0\ninactive" {
		t.Fatalf("after absent: %q", got)
	}
}

// waitFired polls for the marker the timer's command writes.
func waitFired(t *testing.T, env *tasktest.Env) {
	t.Helper()
	fired := regexp.MustCompile(`(?m)^fired [0-9]{9,} as root$`)
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := env.Sh("cat /tmp/timer-fired 2>/dev/null || true")
		if fired.MatchString(got) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the timer did not fire within 30s (marker %q): %s", got, env.Sh("systemctl status rb-tick.timer rb-tick.service --no-pager 2>&1 || true"))
		}
		time.Sleep(time.Second)
	}
}

// Bad parameters are refused before any host is contacted, naming the
// parameter.
func TestTimerRefusesBadInput(t *testing.T) {
	for with, param := range map[string]string{
		`{name: a@b, on_calendar: daily, command: x}`:            "name",
		`{name: a.timer, on_calendar: daily, command: x}`:        "name",
		`{name: a, command: x}`:                                  "on_calendar",
		`{name: a, on_calendar: "daily\nweekly", command: x}`:    "on_calendar",
		`{name: a, on_calendar: daily}`:                          "command",
		`{name: a, on_calendar: daily, command: "a\nb"}`:         "command",
		`{name: a, on_calendar: daily, command: x, user: "a b"}`: "user",
		`{name: a, state: absent, command: x}`:                   "command",
	} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: timer, with: "+with+"}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, param) {
			t.Errorf("%s: want an error naming %s: %s", with, param, r)
		}
	}
	f := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: timer, with: {name: backup, on_calendar: \"Mon *-*-* 04:00:00\", command: /usr/local/bin/backup, user: app}}\n"), 0o644)
	if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitOK {
		t.Errorf("a good one: %s", r)
	}
}
