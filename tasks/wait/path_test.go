package wait_test

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/sshtest"
	_ "github.com/runbookdev/runbook/tasks/command"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// later does change once the run has reached the wait step: the step
// before it touches marker, and the wait's first probe comes right after,
// long before the second that change gives it.
func later(t *testing.T, marker string, change func()) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(30 * time.Second)
		for {
			if _, err := os.Stat(marker); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the run never reached %s", marker)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(time.Second)
		change()
	}()
	return done
}

// timeline runs rb: check (would change), a run that waits until change
// makes the condition hold (changed, "waited"), a check that finds it
// holding, then drift by hand and a check that finds it again.
func timeline(t *testing.T, env *tasktest.Env, step, with string, change, drift func()) {
	t.Helper()
	marker := filepath.Join(env.Dir, "reached")
	rb := fmt.Sprintf("steps:\n  - {name: reached, hosts: h1, task: command, with: {cmd: %q}}\n  - {name: %s, hosts: h1, task: wait, with: %s}\n",
		"touch "+marker, step, with)
	check := fmt.Sprintf("steps:\n  - {name: %s, hosts: h1, task: wait, with: %s}\n", step, with)

	before := tasktest.Snapshot(t, env.Dir)
	r := env.Apply(check, "--check")
	if r.Exit != tasktest.ExitDrift || r.Result(step).Status != engine.Changed || !strings.HasPrefix(strings.Join(r.Result(step).Changes, ""), "wait for ") {
		t.Fatalf("check before: %s", r)
	}
	if tasktest.Snapshot(t, env.Dir) != before {
		t.Fatalf("check changed the host")
	}
	done := later(t, marker, change)
	r = env.Apply(rb)
	<-done
	if ev := r.Result(step); r.Exit != tasktest.ExitOK || ev.Status != engine.Changed || !strings.HasPrefix(strings.Join(ev.Changes, ""), "waited ") {
		t.Fatalf("apply: %s", r)
	}
	if r = env.Apply(check, "--check"); r.Exit != tasktest.ExitOK || r.Result(step).Status != engine.OK {
		t.Fatalf("check after: %s", r)
	}
	drift()
	if r = env.Apply(check, "--check"); r.Exit != tasktest.ExitDrift || r.Result(step).Status != engine.Changed {
		t.Fatalf("check after drift: %s", r)
	}
}

func TestWaitForPath(t *testing.T) {
	env := tasktest.New(t)
	file := filepath.Join(env.Dir, "ready")
	timeline(t, env, "ready", fmt.Sprintf("{path: %q, timeout: 30s, interval: 100ms}", file),
		func() { must(t, os.WriteFile(file, nil, 0o644)) },
		func() { must(t, os.Remove(file)) })
}

func TestWaitForPathAbsent(t *testing.T) {
	env := tasktest.New(t)
	lock := filepath.Join(env.Dir, "dpkg.lock")
	must(t, os.WriteFile(lock, nil, 0o644))
	timeline(t, env, "unlocked", fmt.Sprintf("{path: %q, state: absent, timeout: 30s, interval: 100ms}", lock),
		func() { must(t, os.Remove(lock)) },
		// A dangling symbolic link is still something there.
		func() { must(t, os.Symlink("nowhere", lock)) })
}

func TestWaitForPathContent(t *testing.T) {
	env := tasktest.New(t)
	log := filepath.Join(env.Dir, "app.log")
	must(t, os.WriteFile(log, []byte("starting\n"), 0o644))
	timeline(t, env, "started", fmt.Sprintf(`{path: %q, search_regex: "(?m)^listening on :[0-9]+$", timeout: 30s, interval: 100ms}`, log),
		func() { appendTo(t, log, "loading\nlistening on :8080\n") },
		func() { must(t, os.WriteFile(log, []byte("starting\nlistening on :eighty\n"), 0o644)) })
}

// The banner a port sends must match: a port that is open but says
// something else is still waited for.
func TestWaitForBanner(t *testing.T) {
	env := tasktest.New(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { l.Close() })
	var banner atomic.Value
	banner.Store("220 booting\r\n")
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fmt.Fprint(c, banner.Load())
			c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	timeline(t, env, "smtp", fmt.Sprintf(`{port: %d, search_regex: "^220 .*ESMTP", timeout: 30s, interval: 100ms}`, port),
		func() { banner.Store("220 mail.example ESMTP ready\r\n") },
		func() { banner.Store("421 going down\r\n") })

	// sshd, a real server, says who it is at once and then waits.
	s := sshtest.Start(t)
	rb := fmt.Sprintf("steps:\n  - {name: ssh, hosts: h1, task: wait, with: {port: %d, search_regex: \"^SSH-2\\\\.0-\"}}\n", s.Port)
	if r := env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK || r.Result("ssh").Status != engine.OK {
		t.Fatalf("sshd's banner: %s", r)
	}
}

func TestWaitPathGivesUp(t *testing.T) {
	env := tasktest.New(t)
	log := filepath.Join(env.Dir, "app.log")
	must(t, os.WriteFile(log, []byte("starting\n"), 0o644))
	r := env.Apply(fmt.Sprintf("steps:\n  - {name: never, hosts: h1, task: wait, with: {path: %q, search_regex: ready, timeout: 1s, interval: 200ms}}\n", log))
	if msg := r.Result("never").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "gave up waiting for "+log+` to match "ready"`) {
		t.Fatalf("%q\n%s", msg, r)
	}
}

// Bad parameters are refused before anything runs, naming the parameter.
func TestWaitPathBadParams(t *testing.T) {
	env := tasktest.New(t)
	for with, want := range map[string]string{
		`{path: rel}`:                                `path "rel" must be absolute`,
		`{path: /x, state: closed}`:                  `state: with path, present or absent, got "closed"`,
		`{path: /x, search_regex: "("}`:              `search_regex "(": error parsing regexp`,
		`{path: /x, state: absent, search_regex: a}`: "search_regex needs something to read",
		`{cmd: "true", search_regex: a}`:             "search_regex is for path",
		`{path: /x, port: 80}`:                       "give exactly one of port, url, path or cmd",
		`{cmd: "true", state: open}`:                 "state is for port",
	} {
		r := env.Apply("steps:\n  - {name: s, hosts: h1, task: wait, with: " + with + "}\n")
		if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, want) {
			t.Errorf("%s: want %q:\n%s", with, want, r)
		}
	}
}

func appendTo(t *testing.T, file, text string) {
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	must(t, err)
	_, err = f.WriteString(text)
	must(t, err)
	must(t, f.Close())
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Error(err)
	}
}
