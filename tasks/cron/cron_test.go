package cron_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	_ "github.com/runbookdev/runbook/tasks/cron"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

const job = `
steps:
  - name: job
    hosts: h1
    task: cron
    with: {name: rb-marker, env: {MARKER: /tmp/cron-fired, MAILTO: ""}, job: 'date +\%s >"$MARKER"'}
`

const wantFile = `# runbook: cron job rb-marker. Changes made here are drift, undone by the next run.
MAILTO=""
MARKER=/tmp/cron-fired
* * * * * root date +\%s >"$MARKER"`

func TestCronTimeline(t *testing.T) {
	env := labkit.New(t)
	if got := env.Sh("systemctl is-active cron"); got != "active" {
		t.Fatalf("cron is not running on the host: %s", got)
	}
	r := env.Apply(job, "--check", "--diff")
	if changes := strings.Join(r.Result("job").Changes, ";"); r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "+ create /etc/cron.d/rb-marker") {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("ls /etc/cron.d/rb-marker 2>&1 || true"); !strings.Contains(got, "No such file") {
		t.Fatalf("check mode wrote the file: %s", got)
	}
	if r = env.Apply(job); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("cat /etc/cron.d/rb-marker"); got != wantFile {
		t.Fatalf("the file:\n%s\nwant:\n%s", got, wantFile)
	}
	if got := env.Sh("stat -c '%a %U %G' /etc/cron.d/rb-marker"); got != "644 root root" {
		t.Fatalf("the file's mode and owner: %s", got)
	}
	if r = env.Apply(job, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}

	// cron takes the file: within two minutes the job has run, with its
	// environment and \% as a literal %.
	deadline := time.Now().Add(150 * time.Second)
	for {
		got := env.Sh("cat /tmp/cron-fired 2>/dev/null || true")
		if regexp.MustCompile(`^[0-9]{9,}$`).MatchString(got) {
			break
		}
		log := env.Sh("journalctl -u cron --no-pager -n 20 2>&1 || true")
		if strings.Contains(log, "rb-marker) ERROR") {
			t.Fatalf("cron refused the file:\n%s", log)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the job did not run within 150s (marker %q); cron says: %s", got, log)
		}
		time.Sleep(2 * time.Second)
	}

	// Drift by hand: the schedule edited, the mode widened.
	for _, drift := range []struct{ cmd, want string }{
		{"sed -i 's/^\\* \\* /0 4 /' /etc/cron.d/rb-marker", "~ content /etc/cron.d/rb-marker"},
		{"chmod 664 /etc/cron.d/rb-marker", "~ mode 0664 -> 0644"},
	} {
		env.Sh(drift.cmd)
		r = env.Apply(job, "--check")
		if changes := strings.Join(r.Result("job").Changes, ";"); r.Exit != tasktest.ExitDrift || !strings.Contains(changes, drift.want) {
			t.Fatalf("after %q, check: %s", drift.cmd, r)
		}
		if r = env.Apply(job); r.Exit != tasktest.ExitOK {
			t.Fatalf("after %q, repair: %s", drift.cmd, r)
		}
		if r = env.Apply(job, "--check"); r.Exit != tasktest.ExitOK {
			t.Fatalf("after %q, check after repair: %s", drift.cmd, r)
		}
	}
	if got := env.Sh("cat /etc/cron.d/rb-marker; stat -c '%a' /etc/cron.d/rb-marker"); got != wantFile+"\n644" {
		t.Fatalf("after the repairs: %q", got)
	}

	daily := `
steps:
  - {name: job, hosts: h1, task: cron, with: {name: rb-marker, special_time: daily, user: nobody, job: "true"}}
`
	if r = env.Apply(daily); r.Exit != tasktest.ExitOK {
		t.Fatalf("special_time: %s", r)
	}
	if got := env.Sh("tail -n1 /etc/cron.d/rb-marker"); got != "@daily nobody true" {
		t.Fatalf("special_time's line: %q", got)
	}
	absent := "steps:\n  - {name: job, hosts: h1, task: cron, with: {name: rb-marker, state: absent}}\n"
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK || r.Result("job").Status != "changed" {
		t.Fatalf("absent: %s", r)
	}
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent, second check: %s", r)
	}
	if got := env.Sh("ls /etc/cron.d/rb-marker 2>&1 || true"); !strings.Contains(got, "No such file") {
		t.Fatalf("the file is still there: %s", got)
	}
}

// A schedule crontab(5) does not allow, or a file name cron would ignore,
// is refused before any host is contacted, naming the parameter.
func TestCronRefusesBadInput(t *testing.T) {
	for with, param := range map[string]string{
		`{name: a.b, job: x}`:                               "name",
		`{name: a, minute: "60", job: x}`:                   "minute",
		`{name: a, hour: "1-24", job: x}`:                   "hour",
		`{name: a, day: "0", job: x}`:                       "day",
		`{name: a, month: "jan-mar", job: x}`:               "month",
		`{name: a, weekday: "8", job: x}`:                   "weekday",
		`{name: a, minute: "*/0", job: x}`:                  "minute",
		`{name: a, minute: "5/10", job: x}`:                 "minute",
		`{name: a, minute: "1,,2", job: x}`:                 "minute",
		`{name: a, minute: "* *", job: x}`:                  "minute",
		`{name: a, special_time: often, job: x}`:            "special_time",
		`{name: a, special_time: daily, hour: "1", job: x}`: "hour",
		`{name: a, job: "date +%F"}`:                        "job",
		`{name: a, job: "a\nb"}`:                            "job",
		`{name: a}`:                                         "job",
		`{name: a, job: x, user: "a b"}`:                    "user",
		`{name: a, job: x, env: {"A B": x}}`:                "env",
		`{name: a, job: x, env: {A: " x"}}`:                 "env",
	} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: cron, with: "+with+"}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, param) {
			t.Errorf("%s: want an error naming %s: %s", with, param, r)
		}
	}
	for _, with := range []string{
		`{name: backup, minute: "*/15", hour: "1-5,22", day: "1", month: jan, weekday: "1-5", job: "date +\\%F"}`,
		`{name: backup_2, special_time: "@reboot", job: x}`,
		`{name: a, weekday: Sun, minute: "0-30/5", job: x}`,
		`{name: a, state: absent}`,
	} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: cron, with: "+with+"}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitOK {
			t.Errorf("%s: %s", with, r)
		}
	}
}
