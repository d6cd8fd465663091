// Package consultest starts a real Consul agent (-dev, in memory, on
// loopback ports of its own) for a test.
package consultest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/toolbin"
)

// Agent is a running Consul agent.
type Agent struct {
	Addr   string // its HTTP API, 127.0.0.1:port
	Client *api.Client
	cmd    *exec.Cmd
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
func Start(t testing.TB) *Agent {
	t.Helper()
	bin := Binary(t)
	ports := freePorts(t, 4)
	a := &Agent{Addr: fmt.Sprintf("127.0.0.1:%d", ports[0])}
	log, err := os.Create(filepath.Join(t.TempDir(), "consul.log"))
	if err != nil {
		t.Fatal(err)
	}
	a.cmd = exec.Command(bin, "agent", "-dev", "-bind", "127.0.0.1", "-client", "127.0.0.1",
		"-node", fmt.Sprintf("runbook-test-%d", ports[0]), "-log-level", "warn",
		"-http-port", fmt.Sprint(ports[0]), "-serf-lan-port", fmt.Sprint(ports[1]),
		"-serf-wan-port", fmt.Sprint(ports[2]), "-server-port", fmt.Sprint(ports[3]),
		"-dns-port", "-1", "-grpc-port", "-1", "-grpc-tls-port", "-1", "-https-port", "-1")
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
	cfg.Token = ""
	if a.Client, err = api.NewClient(cfg); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	for {
		if leader, err := a.Client.Status().Leader(); err == nil && leader != "" {
			return a
		}
		select {
		case <-exited:
			t.Fatalf("consul agent exited at start: %s", toolbin.Tail(log.Name()))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("consul agent on %s has no leader after 90s: %s", a.Addr, toolbin.Tail(log.Name()))
		}
	}
}

// moduleRoot finds runbook's module directory and the Consul version
// tools/consul builds.

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
