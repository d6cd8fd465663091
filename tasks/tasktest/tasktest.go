// Package tasktest runs runbooks through runbook's own command line against
// a real OpenSSH server, for the timeline tests every task module has:
// check (expect a change), apply, check (expect none), drift the host by
// hand, check (expect exactly that drift, exit 2).
package tasktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/lab"
	"github.com/runbookdev/runbook/internal/labtest"
	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
)

// Env is one SSH host ("h1") and a place for runbooks.
type Env struct {
	t          testing.TB
	Inventory  string
	KnownHosts string
	Dir        string // a scratch directory on the host
	conn       transport.Conn
}

// New starts an sshd on this machine as the host: for modules that work on
// files, which the test can then look at directly.
func New(t testing.TB) *Env {
	t.Helper()
	s := sshtest.Start(t)
	e := &Env{t: t, Inventory: s.Inventory(t, "h1"), KnownHosts: s.KnownHosts, Dir: t.TempDir()}
	e.connect(transport.Target{Name: "h1", Address: s.Addr, Port: s.Port, User: s.User, KeyFile: s.KeyFile})
	return e
}

// NewLab boots a full lab host (systemd, apt, users of its own) as h1: for
// modules that change the system. It needs root.
func NewLab(t testing.TB) *Env {
	t.Helper()
	l := labtest.Open(t)
	hosts, inv, kh := labtest.Hosts(t, l, lab.Full, "h1")
	e := &Env{t: t, Inventory: inv, KnownHosts: kh, Dir: "/root"}
	e.connect(transport.Target{Name: "h1", Address: hosts[0].Public.String(), User: "root", KeyFile: l.KeyFile()})
	return e
}

func (e *Env) connect(target transport.Target) {
	pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{e.KnownHosts}}}
	e.t.Cleanup(func() { pool.Close() })
	c, err := pool.Get(context.Background(), target)
	if err != nil {
		e.t.Fatal(err)
	}
	e.conn = c
}

// Sh runs a command on the host, as a person drifting it by hand would,
// and returns its output; it fails the test when the command fails.
func (e *Env) Sh(cmd string) string {
	e.t.Helper()
	res, err := e.conn.Run(context.Background(), cmd, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	if !res.OK() {
		e.t.Fatalf("%s: %s", cmd, res.Failure())
	}
	return strings.TrimSpace(string(res.Stdout))
}

// Run is what one `runbook apply` did.
type Run struct {
	Exit   int
	Events []engine.Event
	Stdout string // what was not an event
	Stderr string
}

// Apply runs `runbook apply` on the runbook text with extra args (such as
// --check or --diff) and returns its exit code and events.
func (e *Env) Apply(runbook string, args ...string) Run {
	e.t.Helper()
	f, err := os.CreateTemp(e.t.TempDir(), "runbook-*.yaml")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := f.WriteString(runbook); err != nil {
		e.t.Fatal(err)
	}
	f.Close()
	return e.ApplyFile(f.Name(), args...)
}

// ApplyFile is Apply for a runbook file, for runbooks that refer to files
// beside them.
func (e *Env) ApplyFile(file string, args ...string) Run {
	e.t.Helper()
	argv := append([]string{"apply", "-i", e.Inventory, "--known-hosts", e.KnownHosts, "--output", "json"}, args...)
	return CLI(e.t, append(argv, file)...)
}

// CLI runs runbook with args (which should ask for --output json) and
// returns its exit code and events.
func CLI(t testing.TB, args ...string) Run {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), args, &stdout, &stderr)
	r := Run{Exit: code, Stderr: stderr.String()}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var ev engine.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			r.Stdout += line + "\n" // not an event: a command that prints text
			continue
		}
		r.Events = append(r.Events, ev)
	}
	return r
}

// Result is the host_result event of step (on its first host).
func (r Run) Result(step string) engine.Event {
	for _, ev := range r.Events {
		if ev.Type == engine.HostResult && ev.Step == step {
			return ev
		}
	}
	return engine.Event{}
}

// Hosts lists the hosts step ran on, with their status.
func (r Run) Hosts(step string) map[string]engine.Status {
	out := map[string]engine.Status{}
	for _, ev := range r.Events {
		if ev.Type == engine.HostResult && ev.Step == step {
			out[ev.Host] = ev.Status
		}
	}
	return out
}

// Statuses maps each step to its status on h1.
func (r Run) Statuses() map[string]engine.Status {
	out := map[string]engine.Status{}
	for _, ev := range r.Events {
		if ev.Type == engine.HostResult {
			out[ev.Step] = ev.Status
		}
	}
	return out
}

// String shows the run for failure messages.
func (r Run) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "exit %d\n", r.Exit)
	for _, ev := range r.Events {
		if ev.Type == engine.HostResult || ev.Type == engine.Recap || ev.Type == engine.Warning {
			j, _ := json.Marshal(ev)
			b.Write(j)
			b.WriteString("\n")
		}
	}
	b.WriteString(r.Stderr)
	return b.String()
}

// Snapshot lists every file under dir with its mode and content, to show
// that a check run changed nothing.
func Snapshot(t testing.TB, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + " " + fi.Mode().String())
		if fi.Mode().IsRegular() {
			data, _ := os.ReadFile(p)
			b.WriteString(" " + string(data))
		}
		b.WriteString("\n")
		return nil
	})
	return b.String()
}
