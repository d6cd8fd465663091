package wait_test

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/tasks/tasktest"
	_ "github.com/runbookdev/runbook/tasks/wait"
)

func TestWaitForPort(t *testing.T) {
	env := tasktest.New(t)
	port := sshtest.FreePort(t)
	rb := fmt.Sprintf("steps:\n  - {name: up, hosts: h1, task: wait, with: {port: %d, timeout: 20s, interval: 100ms}}\n", port)

	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("up").Changes, ""), "to open") {
		t.Fatalf("check with the port closed: %s", r)
	}
	opened := make(chan net.Listener, 1)
	go func() {
		// Long enough that the apply, even on a loaded machine, finds
		// the port closed first and has to wait.
		time.Sleep(2 * time.Second)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Error(err)
		}
		opened <- l
	}()
	r = env.Apply(rb)
	ev := r.Result("up")
	if r.Exit != 0 || ev.Status != engine.Changed || !strings.HasPrefix(strings.Join(ev.Changes, ""), "waited ") {
		t.Fatalf("apply: %s", r)
	}
	l := <-opened
	if r = env.Apply(rb); r.Exit != 0 || r.Result("up").Status != engine.OK {
		t.Fatalf("with the port open: %s", r)
	}
	l.Close()
	closed := fmt.Sprintf("steps:\n  - {name: down, hosts: h1, task: wait, with: {port: %d, state: closed, timeout: 5s}}\n", port)
	if r = env.Apply(closed, "--check"); r.Exit != 0 {
		t.Fatalf("closed: %s", r)
	}
}

func TestWaitGivesUp(t *testing.T) {
	env := tasktest.New(t)
	r := env.Apply("steps:\n  - {name: never, hosts: h1, task: wait, with: {cmd: \"echo not yet; false\", timeout: 1s, interval: 200ms}}\n")
	if msg := r.Result("never").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "gave up waiting") || !strings.Contains(msg, "not yet") {
		t.Fatalf("%q\n%s", msg, r)
	}
}
