// Package tasktest runs runbooks through runbook's engine against a real
// OpenSSH server, for the timeline tests every task module has: check
// (expect a change), apply, check (expect none), drift the host by hand,
// check (expect exactly that drift, exit 2).
//
// It drives the engine as `runbook apply --output json` does, without the
// command line, so a module's tests compile only the engine and the module.
// Tests that need a lab host or the whole command line use
// tasks/tasktest/labkit.
package tasktest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/output"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/inventory"
	"github.com/runbookdev/runbook/tasks"
)

// Exit codes of a run, as `runbook apply` gives them (Terraform's
// -detailed-exitcode).
const (
	ExitOK    = 0 // in sync, or applied
	ExitError = 1 // an error, or a step failed
	ExitDrift = 2 // --check found something to change
)

// Host says how to reach the host a test works on, named h1 in runbooks.
type Host struct {
	Address    string
	Port       int // default 22
	User       string
	KeyFile    string
	KnownHosts string // a known_hosts file holding its host key
	Dir        string // a scratch directory on it
}

// Env is the hosts runbooks run on (one SSH host, "h1", but for NewLocal)
// and a place for runbooks.
type Env struct {
	t         testing.TB
	Dir       string // a scratch directory on the host
	host      Host
	inventory inventory.Sources
	conn      transport.Conn
}

// New starts an sshd on this machine as the host: for modules that work on
// files, which the test can then look at directly.
func New(t testing.TB) *Env {
	t.Helper()
	s := sshtest.Start(t)
	return At(t, Host{Address: s.Addr, Port: s.Port, User: s.User, KeyFile: s.KeyFile, KnownHosts: s.KnownHosts, Dir: t.TempDir()})
}

// At is the Env for a host that is already there, such as a lab host.
func At(t testing.TB, h Host) *Env {
	t.Helper()
	host := &inventory.Host{Name: "h1", Address: h.Address, Port: h.Port, User: h.User, Key: h.KeyFile}
	e := &Env{t: t, Dir: h.Dir, host: h, inventory: inventory.Sources{hosts{host}}}
	pool := e.pool()
	t.Cleanup(func() { pool.Close() })
	c, err := pool.Get(context.Background(), transport.Target{Name: host.Name, Address: host.Address, Port: host.Port, User: host.User, KeyFile: host.Key})
	if err != nil {
		t.Fatal(err)
	}
	e.conn = c
	return e
}

// NewLocal is an Env of n hosts, h1 to hN, that are all this machine,
// reached without SSH (connection: local): for what a run does on the
// controller, such as reading an artifact once for every host.
func NewLocal(t testing.TB, n int) *Env {
	var hs hosts
	for i := 1; i <= n; i++ {
		hs = append(hs, &inventory.Host{Name: fmt.Sprintf("h%d", i), Connection: "local"})
	}
	return &Env{t: t, Dir: t.TempDir(), inventory: inventory.Sources{hs}, conn: transport.Local{}}
}

// hosts is an inventory built in code.
type hosts []*inventory.Host

func (h hosts) Load(context.Context) (*inventory.Data, error) {
	return &inventory.Data{Hosts: h}, nil
}

// pool trusts the host's key alone, as `runbook apply --known-hosts` does.
func (e *Env) pool() *transport.Pool {
	p := &transport.Pool{Timeout: 20 * time.Second}
	if e.host.KnownHosts != "" {
		p.Keys = &transport.HostKeys{Files: []string{e.host.KnownHosts}}
	}
	return p
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

// Run is what one run did.
type Run struct {
	Exit   int
	Events []engine.Event
	Stdout string // what was not an event
	Stderr string
}

// Apply runs the runbook text as `runbook apply` would, with flags among
// --check, --diff and -e VARS, and returns its exit code and events.
func (e *Env) Apply(runbook string, flags ...string) Run {
	e.t.Helper()
	f, err := os.CreateTemp(e.t.TempDir(), "runbook-*.yaml")
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := f.WriteString(runbook); err != nil {
		e.t.Fatal(err)
	}
	f.Close()
	return e.ApplyFile(f.Name(), flags...)
}

// ApplyFile is Apply for a runbook file, for runbooks that refer to files
// beside them.
func (e *Env) ApplyFile(file string, flags ...string) Run {
	e.t.Helper()
	opts := engine.Options{Forks: engine.DefaultForks}
	var extra []string
	for i := 0; i < len(flags); i++ {
		switch f := flags[i]; {
		case f == "--check":
			opts.Check = true
		case f == "--diff":
			opts.Diff = true
		case f == "-e" && i+1 < len(flags):
			i++
			extra = append(extra, flags[i])
		case strings.HasPrefix(f, "-e="):
			extra = append(extra, strings.TrimPrefix(f, "-e="))
		default:
			e.t.Fatalf("tasktest: flag %q: want --check, --diff or -e VARS", f)
		}
	}
	var stdout, stderr bytes.Buffer
	code := e.apply(file, extra, opts, &stdout, &stderr)
	return Decode(code, stdout.String(), stderr.String())
}

// apply is runApply in internal/cli, less what a test does not need: the
// flags, other inventories, run locks, text output.
func (e *Env) apply(file string, extra []string, opts engine.Options, stdout, stderr *bytes.Buffer) int {
	ctx := context.Background()
	fail := func(err error) int {
		fmt.Fprintf(stderr, "runbook: %s\n", output.Escape(err.Error()))
		return ExitError
	}
	rb, err := runbook.Load(file)
	if err != nil {
		return fail(err)
	}
	if opts.ExtraVars, err = tmpl.ParseExtraVars(extra); err != nil {
		return fail(err)
	}
	pool := e.pool()
	defer pool.Close()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	eng := engine.New(opts, e.inventory, pool, output.NewJSON(stdout), log)
	if err := eng.Preflight(ctx, rb); err != nil {
		return fail(err)
	}
	sum, err := eng.Run(ctx, rb)
	switch {
	case err != nil, sum.Failed():
		// The recap has said what failed or why the run stopped.
		return ExitError
	case opts.Check && sum.Changed():
		return ExitDrift
	}
	return ExitOK
}

// Decode reads a run from its exit code and what it wrote, one JSON event
// per line on stdout; lines that are not events are kept in Stdout.
func Decode(exit int, stdout, stderr string) Run {
	r := Run{Exit: exit, Stderr: stderr}
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
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

// Conn starts a real sshd for the test (with opts) and returns a
// connection to it as runbook makes one, for tests that call a module's
// Check and Apply themselves, such as those that race a hostile user.
func Conn(t testing.TB, opts ...sshtest.Option) tasks.Conn {
	t.Helper()
	s := sshtest.Start(t, opts...)
	pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{s.KnownHosts}}, Timeout: 5 * time.Second}
	t.Cleanup(func() { pool.Close() })
	c, err := pool.Get(context.Background(), transport.Target{Name: "h1", Address: s.Addr, Port: s.Port, User: s.User, KeyFile: s.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	return c
}
