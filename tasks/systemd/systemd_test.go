package systemd_test

import (
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/file"
	_ "github.com/runbookdev/runbook/tasks/systemd"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

const fortune = `
vars: {bind: "0.0.0.0"}
steps:
  - name: fcs unit
    hosts: h1
    task: systemd
    with:
      name: fcs
      enabled: true
      state: started
      content: |
        [Unit]
        Description=Fortune Cookie Service
        [Service]
        ExecStart=/usr/bin/socat -v tcp-l:8181,bind={{ .bind }},reuseaddr,fork exec:/usr/games/fortune
        Restart=always
        [Install]
        WantedBy=multi-user.target
`

func TestSystemdTimeline(t *testing.T) {
	env := labkit.New(t)
	r := env.Apply(fortune, "--check")
	if r.Exit != tasktest.ExitDrift {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("systemctl is-active fcs || true"); got == "active" {
		t.Fatal("check mode started the unit")
	}
	if r = env.Apply(fortune); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("systemctl is-active fcs; systemctl is-enabled fcs"); got != "active\nenabled" {
		t.Errorf("fcs is %q", got)
	}
	if got := env.Sh("socat -u TCP:127.0.0.1:8181 - | wc -c"); got == "0" {
		t.Error("no fortune from the service")
	}
	if r = env.Apply(fortune, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}

	// Drift by hand: stopped and disabled.
	env.Sh("systemctl disable -q --now fcs")
	r = env.Apply(fortune, "--check")
	changes := strings.Join(r.Result("fcs unit").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "~ enable") || !strings.Contains(changes, "~ start") {
		t.Fatalf("drift: %q\n%s", changes, r)
	}
	if r = env.Apply(fortune); r.Exit != 0 {
		t.Fatalf("repair: %s", r)
	}

	// A changed unit file restarts the running unit: socat rebound.
	pid := env.Sh("systemctl show -p MainPID --value fcs")
	if r = env.Apply(fortune, "-e", "bind=127.0.0.1"); r.Exit != 0 || r.Result("fcs unit").Status != engine.Changed {
		t.Fatalf("rebind: %s", r)
	}
	if env.Sh("systemctl show -p MainPID --value fcs") == pid {
		t.Error("the unit was not restarted after its file changed")
	}
	if got := env.Sh("ss -Hltn 'sport = :8181' | awk '{print $4}'"); got != "127.0.0.1:8181" {
		t.Errorf("socat listens on %q", got)
	}
}

func TestSystemdReportsWhyAUnitDidNotStart(t *testing.T) {
	env := labkit.New(t)
	r := env.Apply(`
steps:
  - name: broken
    hosts: h1
    task: systemd
    with:
      name: broken
      state: started
      content: |
        [Service]
        ExecStart=/bin/sh -c 'echo missing config file >&2; exit 3'
        Restart=always
`)
	msg := r.Result("broken").Message
	if r.Exit != tasktest.ExitError || !strings.Contains(msg, "missing config file") {
		t.Fatalf("%q\n%s", msg, r)
	}
}

func TestConfigChangeNotifiesRestartOnce(t *testing.T) {
	env := labkit.New(t)
	rb := func(greeting string) string {
		return `
steps:
  - {name: config dir, hosts: h1, task: file, with: {path: /etc/greeter, state: directory}}
  - {name: config, hosts: h1, task: file, with: {path: /etc/greeter/greeting, content: "` + greeting + `\n"}, notify: restart greeter}
  - name: unit
    hosts: h1
    task: systemd
    with:
      name: greeter
      state: started
      content: |
        [Service]
        ExecStart=/usr/bin/socat tcp-l:7070,reuseaddr,fork system:'cat /etc/greeter/greeting'
  - {name: again, hosts: h1, task: file, with: {path: /etc/greeter/copy, content: "` + greeting + `\n"}, notify: restart greeter}
handlers:
  - {name: restart greeter, task: systemd, with: {name: greeter, state: restarted}}
`
	}
	r := env.Apply(rb("hello"))
	if r.Exit != 0 {
		t.Fatalf("%s", r)
	}
	restarts := 0
	for _, ev := range r.Events {
		if ev.Type == "host_result" && ev.Step == "restart greeter" {
			restarts++
		}
	}
	if restarts != 1 {
		t.Errorf("handler ran %d times, want once at the end", restarts)
	}
	pid := env.Sh("systemctl show -p MainPID --value greeter")
	r = env.Apply(rb("hello"))
	if r.Result("restart greeter").Status != "" {
		t.Errorf("handler ran with nothing changed: %s", r)
	}
	if env.Sh("systemctl show -p MainPID --value greeter") != pid {
		t.Error("greeter restarted with nothing changed")
	}
	if r = env.Apply(rb("bonjour")); r.Result("restart greeter").Status != engine.Changed {
		t.Fatalf("a changed config should restart: %s", r)
	}
	if env.Sh("systemctl show -p MainPID --value greeter") == pid {
		t.Error("greeter was not restarted")
	}
}

// A unit caught crash-looping (a sidecar whose agent refused it) is fixed
// by a new unit file: the restart that applies it succeeds, and the
// crashes from before it are not counted against it. Crashes after it
// still fail the step.
func TestFixingACrashLoopingUnit(t *testing.T) {
	env := labkit.New(t)
	unit := func(exec string) string {
		return `
steps:
  - name: loop unit
    hosts: h1
    task: systemd
    with:
      name: looper
      state: started
      content: |
        [Unit]
        Description=crash loop, then fixed
        StartLimitIntervalSec=0
        [Service]
        ExecStart=` + exec + `
        Restart=always
        RestartSec=100ms
`
	}
	env.Sh("printf '[Service]\\nExecStart=/bin/false\\nRestart=always\\nRestartSec=100ms\\n[Unit]\\nStartLimitIntervalSec=0\\n' > /etc/systemd/system/looper.service && systemctl daemon-reload && systemctl start looper || true")
	deadline := time.Now().Add(20 * time.Second)
	for env.Sh("systemctl show -p NRestarts --value looper") == "0" {
		if time.Now().After(deadline) {
			t.Fatal("the unit never crashed")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if r := env.Apply(unit("/bin/sleep infinity")); r.Exit != 0 {
		t.Fatalf("apply of the fixed unit: %s", r)
	}
	if got := env.Sh("systemctl is-active looper"); got != "active" {
		t.Errorf("looper is %q", got)
	}
	if r := env.Apply(unit("/bin/false")); r.Exit == 0 {
		t.Fatalf("a unit that crashes after the change was reported fine: %s", r)
	}
}
