package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/consultest"
	"github.com/runbookdev/runbook/internal/engine"
)

// syncBuffer is written by a run in progress and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type cliRun struct {
	code        int
	out, errOut *syncBuffer
	done        chan struct{}
}

func startCLI(args ...string) *cliRun {
	r := &cliRun{out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan struct{})}
	go func() {
		r.code = cli.Run(context.Background(), args, r.out, r.errOut)
		close(r.done)
	}()
	return r
}

func (r *cliRun) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-r.done:
		return r.code
	case <-time.After(2 * time.Minute):
		t.Fatalf("run still going after 2 minutes:\n%s\n%s", r.out, r.errOut)
	}
	return 0
}

// events decodes the JSON events a run wrote so far.
func (r *cliRun) events() []engine.Event {
	var out []engine.Event
	for _, line := range strings.Split(r.out.String(), "\n") {
		var ev engine.Event
		if json.Unmarshal([]byte(line), &ev) == nil {
			out = append(out, ev)
		}
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 2 minutes, still not: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// until waits for cond while r runs: a run that ended already will not
// make it true, and what it printed says why.
func (r *cliRun) until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	waitFor(t, what, func() bool {
		select {
		case <-r.done:
			if !cond() {
				t.Fatalf("the run ended (exit %d) before %s:\n%s\n%s", r.code, what, r.out, r.errOut)
			}
		default:
		}
		return cond()
	})
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

// lockFixture is an inventory of the controller that asks for a run lock
// in Consul, a runbook that holds a run in its first step until told to
// go on, and one that does not.
type lockFixture struct {
	agent             *consultest.Agent
	inv, slow, quick  string
	log, started, gon string
	key               string
}

func newLockFixture(t *testing.T, agent *consultest.Agent) *lockFixture {
	dir := t.TempDir()
	f := &lockFixture{agent: agent, key: "runbook/locks/" + filepath.Base(dir),
		log: filepath.Join(dir, "log"), started: filepath.Join(dir, "started"), gon: filepath.Join(dir, "go")}
	f.inv = filepath.Join(dir, "hosts.yaml")
	os.WriteFile(f.inv, []byte(fmt.Sprintf("defaults: {connection: local}\nhosts: {h1: }\nlock:\n  consul: {key: %s, address: %s}\n", f.key, agent.Addr)), 0o644)
	f.slow = filepath.Join(dir, "slow.yaml")
	os.WriteFile(f.slow, []byte(fmt.Sprintf(`steps:
  - {name: a1, hosts: h1, task: command, with: {cmd: "echo A1 >> %[1]s; touch %[2]s; while [ ! -e %[3]s ]; do sleep 0.05; done"}}
  - {name: a2, hosts: h1, task: command, with: {cmd: "echo A2 >> %[1]s"}}
`, f.log, f.started, f.gon)), 0o644)
	f.quick = filepath.Join(dir, "quick.yaml")
	os.WriteFile(f.quick, []byte(fmt.Sprintf(`steps:
  - {name: b1, hosts: h1, task: command, with: {cmd: "echo B1 >> %[1]s"}}
  - {name: b2, hosts: h1, task: command, with: {cmd: "echo B2 >> %[1]s"}}
`, f.log)), 0o644)
	return f
}

func (f *lockFixture) logged() string {
	data, _ := os.ReadFile(f.log)
	return strings.Join(strings.Fields(string(data)), " ")
}

func TestRunLockInConsul(t *testing.T) {
	agent := consultest.Start(t)
	t.Run("a second apply waits for the first, naming it", func(t *testing.T) { testSecondApplyWaits(t, agent) })
	t.Run("a lost lock stops the run before the next step", func(t *testing.T) { testLostRunLock(t, agent) })
	t.Run("runbook run takes the lock too", func(t *testing.T) { testAdHocWaits(t, agent) })
}

func testSecondApplyWaits(t *testing.T, agent *consultest.Agent) {
	f := newLockFixture(t, agent)
	first := startCLI("apply", "-i", f.inv, "--output", "json", f.slow)
	first.until(t, "the first run is in its first step", func() bool { return exists(f.started) })

	code, _, errOut := runCLI("apply", "-i", f.inv, "--output", "json", "--lock-timeout", "0", f.quick)
	if code != cli.ExitError || !strings.Contains(errOut, "is held by") || !strings.Contains(errOut, f.slow) {
		t.Errorf("--lock-timeout 0 while another run holds the lock: %d %q", code, errOut)
	}
	// A check changes nothing and need not wait (its commands would run:
	// drift).
	check := startCLI("apply", "-i", f.inv, "--output", "json", "--check", f.quick)
	if code := check.wait(t); code != cli.ExitDrift {
		t.Errorf("--check while another run holds the lock: %d %s", code, check.errOut)
	}

	second := startCLI("apply", "-i", f.inv, "--output", "json", f.quick)
	second.until(t, "the second run says whom it waits for", func() bool {
		for _, ev := range second.events() {
			if ev.Type == engine.Progress && strings.Contains(ev.Message, "held by") && strings.Contains(ev.Message, f.slow) {
				return true
			}
		}
		return false
	})
	if got := f.logged(); got != "A1" {
		t.Fatalf("while the first run holds the lock, the log is %q", got)
	}
	os.WriteFile(f.gon, nil, 0o644)
	if code := first.wait(t); code != cli.ExitOK {
		t.Fatalf("first run: %d\n%s\n%s", code, first.out, first.errOut)
	}
	if code := second.wait(t); code != cli.ExitOK {
		t.Fatalf("second run: %d\n%s\n%s", code, second.out, second.errOut)
	}
	if got := f.logged(); got != "A1 A2 B1 B2" {
		t.Errorf("the runs interleaved: %q, want A1 A2 B1 B2", got)
	}
}

func testLostRunLock(t *testing.T, agent *consultest.Agent) {
	f := newLockFixture(t, agent)
	run := startCLI("apply", "-i", f.inv, "--output", "json", f.slow)
	run.until(t, "the run is in its first step", func() bool { return exists(f.started) })
	pair, _, err := agent.Client.KV().Get(f.key, nil)
	if err != nil || pair == nil || pair.Session == "" {
		t.Fatalf("the run's lock: %+v %v", pair, err)
	}
	// An operator breaks the lock (or the session expired).
	if _, err := agent.Client.Session().Destroy(pair.Session, nil); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(f.gon, nil, 0o644)
	if code := run.wait(t); code != cli.ExitError {
		t.Errorf("exit %d after losing the lock, want %d", code, cli.ExitError)
	}
	if got := f.logged(); got != "A1" {
		t.Errorf("log %q: the step after the lock was lost ran", got)
	}
	evs := run.events()
	if len(evs) == 0 || evs[len(evs)-1].Type != engine.Recap || !strings.Contains(evs[len(evs)-1].Message, `before step "a2": lost the run lock`) {
		t.Errorf("recap does not say the lock was lost:\n%s", run.out)
	}
}

// testAdHocWaits: runbook run takes the inventory's run lock as apply
// does, saying what it runs; with -C it need not.
func testAdHocWaits(t *testing.T, agent *consultest.Agent) {
	f := newLockFixture(t, agent)
	// A key of its own: the fixture's is its temporary directory's last
	// name, the same in every subtest.
	f.key = "runbook/locks/adhoc"
	os.WriteFile(f.inv, []byte(fmt.Sprintf("defaults: {connection: local}\nhosts: {h1: }\nlock:\n  consul: {key: %s, address: %s}\n", f.key, agent.Addr)), 0o644)
	first := startCLI("run", "-i", f.inv, "h1", "-a", fmt.Sprintf("touch %s; while [ ! -e %s ]; do sleep 0.05; done", f.started, f.gon))
	first.until(t, "the ad-hoc command runs", func() bool { return exists(f.started) })
	code, _, errOut := runCLI("apply", "-i", f.inv, "--lock-timeout", "0", f.quick)
	if code != cli.ExitError || !strings.Contains(errOut, "is held by") || !strings.Contains(errOut, "running ad-hoc: command on h1") {
		t.Errorf("apply while runbook run holds the lock: %d %q", code, errOut)
	}
	code, _, errOut = runCLI("run", "-i", f.inv, "h1", "-a", "true", "--lock-timeout", "0")
	if code != cli.ExitError || !strings.Contains(errOut, "is held by") {
		t.Errorf("a second runbook run: %d %q", code, errOut)
	}
	if code, out, errOut := runCLI("run", "-i", f.inv, "h1", "-a", "true", "-C"); code != cli.ExitDrift {
		t.Errorf("run -C while the lock is held: %d\n%s%s", code, out, errOut)
	}
	os.WriteFile(f.gon, nil, 0o644)
	if code := first.wait(t); code != cli.ExitOK {
		t.Fatalf("first run: %d\n%s\n%s", code, first.out, first.errOut)
	}
}
