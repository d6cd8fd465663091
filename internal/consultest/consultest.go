// Package consultest starts a real Consul agent (-dev, in memory, on
// loopback ports of its own) for a test.
package consultest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// Agent is a running Consul agent.
type Agent struct {
	Addr   string // its HTTP API, 127.0.0.1:port
	Client *api.Client
	cmd    *exec.Cmd
}

// Binary finds the consul binary: $RUNBOOK_CONSUL, then the one
// scripts/consul.sh builds into the machine's cache, then $PATH. When
// there is none the test is skipped, loudly, or under CI, where the
// script is run to build it (4 minutes, once per machine).
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("RUNBOOK_CONSUL"); p != "" {
		return p
	}
	root, version := moduleRoot(t)
	cache := os.Getenv("RUNBOOK_CACHE_DIR")
	if cache == "" {
		cache = "/var/cache/runbook"
	}
	if p := filepath.Join(cache, "consul", version, "consul"); executable(p) {
		return p
	}
	if p, err := exec.LookPath("consul"); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		out, err := exec.Command(filepath.Join(root, "scripts", "consul.sh")).Output()
		if err != nil {
			t.Fatalf("build consul with scripts/consul.sh: %v", err)
		}
		return strings.TrimSpace(string(out))
	}
	t.Skip("SKIPPED: this test needs a Consul agent and there is no consul binary: run `make consul` (builds it once per machine) or set RUNBOOK_CONSUL")
	return ""
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
			t.Fatalf("consul agent exited at start: %s", tail(log.Name()))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("consul agent on %s has no leader after 90s: %s", a.Addr, tail(log.Name()))
		}
	}
}

// moduleRoot finds runbook's module directory and the Consul version
// tools/consul builds.
func moduleRoot(t testing.TB) (root, version string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "tools", "consul", "go.mod")); err == nil {
			sc := bufio.NewScanner(strings.NewReader(string(data)))
			for sc.Scan() {
				f := strings.Fields(sc.Text())
				if len(f) >= 2 && f[0] == "github.com/hashicorp/consul" {
					return dir, strings.TrimPrefix(f[1], "v")
				}
			}
			t.Fatalf("%s/tools/consul/go.mod does not require github.com/hashicorp/consul", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find runbook's tools/consul above the test's directory")
		}
		dir = parent
	}
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
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

func tail(file string) string {
	data, _ := os.ReadFile(file)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}
