// Package consultest starts a real Consul agent (-dev, in memory, on
// loopback ports of its own) for a test.
package consultest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/toolbin"
)

// Agent is a running Consul agent.
type Agent struct {
	Addr   string // its HTTP API, 127.0.0.1:port
	Client *api.Client
	Node   string // its node name
	cmd    *exec.Cmd
	token  string
}

// Option configures the agent Start starts.
type Option func(*options)

type options struct {
	hcl   []string
	token string
}

// Config adds HCL to the agent's configuration, in a file of its own
// (-config-file), e.g. `cache { entry_fetch_rate = 0.001 }`.
func Config(hcl string) Option {
	return func(o *options) { o.hcl = append(o.hcl, hcl) }
}

// ACLs turns ACLs on, default deny. With a management token, the agent
// makes it its initial management token and its own agent token, Start
// waits until the token works, and Agent.Client uses it; with "", the ACL
// system is left for the test to bootstrap.
func ACLs(management string) Option {
	return func(o *options) {
		hcl := `acl { enabled = true
  default_policy = "deny"
`
		if management != "" {
			hcl += fmt.Sprintf("  tokens { initial_management = %q\n    agent = %q }\n", management, management)
		}
		o.hcl = append(o.hcl, hcl+"}\n")
		o.token = management
	}
}

// Binary finds the consul binary: $RUNBOOK_CONSUL, then the one
// scripts/consul.sh builds into the machine's cache, then $PATH (see
// toolbin.Find).
func Binary(t testing.TB) string {
	t.Helper()
	return toolbin.Find(t, toolbin.Tool{Name: "consul", Module: "github.com/hashicorp/consul", Env: "RUNBOOK_CONSUL", Needs: "a Consul agent"})
}

// Start starts a dev agent that lives as long as the test, and waits until
// it has a leader.
func Start(t testing.TB, opts ...Option) *Agent {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	bin := Binary(t)
	ports := freePorts(t, 4)
	a := &Agent{Addr: fmt.Sprintf("127.0.0.1:%d", ports[0]), Node: fmt.Sprintf("runbook-test-%d", ports[0]), token: o.token}
	dir := t.TempDir()
	log, err := os.Create(filepath.Join(dir, "consul.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", a.Node, "-log-level", "warn",
		"-http-port", fmt.Sprint(ports[0]), "-serf-lan-port", fmt.Sprint(ports[1]),
		"-serf-wan-port", fmt.Sprint(ports[2]), "-server-port", fmt.Sprint(ports[3]),
		"-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1", "-https-port", "-1"}
	for i, hcl := range o.hcl {
		// Files, not -hcl: a token in them stays out of the agent's argv.
		f := filepath.Join(dir, fmt.Sprintf("extra-%d.hcl", i))
		if err := os.WriteFile(f, []byte(hcl), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-config-file", f)
	}
	a.cmd = exec.Command(bin, args...)
	a.cmd.Stdout, a.cmd.Stderr = log, log
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { a.cmd.Wait(); log.Close(); close(exited) }()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-exited
	})
	cfg := api.DefaultConfig()
	cfg.Address = a.Addr
	cfg.Token = o.token
	if a.Client, err = api.NewClient(cfg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if a.ready() {
			return a
		}
		select {
		case <-exited:
			t.Fatalf("consul agent exited at start: %s", toolbin.Tail(log.Name()))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("consul agent on %s has no leader (or not yet its management token) after 90s: %s", a.Addr, toolbin.Tail(log.Name()))
		}
	}
}

// ready says whether the agent has a leader, has registered its node
// in the catalog (a session, such as a lock's, needs it: "Missing node
// registration" before), and, when the client has a token, whether the
// leader has made the token yet.
func (a *Agent) ready() bool {
	if leader, err := a.Client.Status().Leader(); err != nil || leader == "" {
		return false
	}
	_, _, err := a.Client.ACL().TokenReadSelf(nil)
	switch {
	case a.token != "" && err != nil:
		return false
	case a.token == "" && (err == nil || !strings.Contains(err.Error(), "ACL support disabled")):
		return true // ACLs on and no token to read the catalog with
	}
	node, _, err := a.Client.Catalog().Node(a.Node, nil)
	return err == nil && node != nil && node.Node != nil
}

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var out []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}
