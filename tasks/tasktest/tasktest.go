// Package tasktest runs runbooks through runbook's own command line against
// a real OpenSSH server, for the timeline tests every task module has:
// check (expect a change), apply, check (expect none), drift the host by
// hand, check (expect exactly that drift, exit 2).
package tasktest

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/sshtest"
)

// Env is one SSH host ("h1") and a place for runbooks.
type Env struct {
	t         testing.TB
	Server    *sshtest.Server
	Inventory string
	Dir       string // a scratch directory on the host (it is this machine)
}

// New starts a host.
func New(t testing.TB) *Env {
	t.Helper()
	s := sshtest.Start(t)
	return &Env{t: t, Server: s, Inventory: s.Inventory(t, "h1"), Dir: t.TempDir()}
}

// Run is what one `runbook apply` did.
type Run struct {
	Exit   int
	Events []engine.Event
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
	argv := append([]string{"apply", "-i", e.Inventory, "--known-hosts", e.Server.KnownHosts, "--output", "json"}, args...)
	argv = append(argv, file)
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), argv, &stdout, &stderr)
	r := Run{Exit: code, Stderr: stderr.String()}
	for _, line := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		if line == "" {
			continue
		}
		var ev engine.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			e.t.Fatalf("bad JSON event %q: %v", line, err)
		}
		r.Events = append(r.Events, ev)
	}
	return r
}

// Result is the host_result event of step on h1.
func (r Run) Result(step string) engine.Event {
	for _, ev := range r.Events {
		if ev.Type == engine.HostResult && ev.Step == step {
			return ev
		}
	}
	return engine.Event{}
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
	b.WriteString("exit " + string(rune('0'+r.Exit)) + "\n")
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
