// Package labtest gives tests real lab hosts: systemd-nspawn machines in
// their own network namespaces. Each test process gets a lab of its own
// (own names, own networks), torn down at the end, with a check that
// nothing was left behind.
package labtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/lab"
	"github.com/runbookdev/runbook/internal/labapi"
)

// Require skips the test, loudly, unless it runs as root with the lab's
// tools installed; under CI (which runs as root) it fails instead.
func Require(t testing.TB) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "these tests boot real lab hosts and need root (CI runs as root): run `sudo make test`"
	} else {
		for _, tool := range []string{"debootstrap", "systemd-nspawn", "ip"} {
			if _, err := exec.LookPath(tool); err != nil {
				why = tool + " is missing: run `make setup` as root"
			}
		}
	}
	if why == "" {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatal("lab tests cannot run: " + why)
	}
	t.Skip("SKIPPED: " + why)
}

// Open returns a fresh lab for the test, removed with everything it made
// when the test ends.
func Open(t testing.TB) *lab.Lab {
	t.Helper()
	Require(t)
	var b [3]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	cfg := lab.DefaultConfig()
	cfg.StateDir = filepath.Join(os.TempDir(), "runbook-labtest-"+id)
	cfg.Prefix = "rt" + id[:5]
	cfg.Public, cfg.Private = freeNets(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	l, err := lab.Open(ctx, cfg, func(msg string) { t.Log(msg) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Down(context.Background()); err != nil {
			t.Errorf("lab down: %v", err)
		}
		if left := l.Leftovers(); !left.Empty() {
			t.Errorf("lab down left %s", left)
		}
		os.RemoveAll(cfg.StateDir)
	})
	return l
}

// freeNets picks two /24s in 10.78.0.0/16 and 10.79.0.0/16 that no
// interface on the machine uses.
func freeNets(t testing.TB) (netip.Prefix, netip.Prefix) {
	used := map[string]bool{}
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		used[a.String()] = true
	}
	var b [1]byte
	for range 50 {
		rand.Read(b[:])
		n := int(b[0]) % 250
		pub := netip.MustParsePrefix(fmt.Sprintf("10.78.%d.0/24", n))
		inUse := false
		for a := range used {
			if strings.HasPrefix(a, fmt.Sprintf("10.78.%d.", n)) {
				inUse = true
			}
		}
		if !inUse {
			return pub, netip.MustParsePrefix(fmt.Sprintf("10.79.%d.0/24", n))
		}
	}
	t.Fatal("no free lab network")
	return netip.Prefix{}, netip.Prefix{}
}

// Hosts creates hosts named names of the given kind, in parallel, and
// returns them with an inventory and a known_hosts file for them.
func Hosts(t testing.TB, l *lab.Lab, kind string, names ...string) (hosts []*lab.Host, inventory, knownHosts string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	hosts = make([]*lab.Host, len(names))
	errs := make(chan error, len(names))
	for i, n := range names {
		go func() {
			h, err := l.Create(ctx, lab.Spec{Name: n, Kind: kind})
			hosts[i] = h
			errs <- err
		}()
	}
	for range names {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	inventory, knownHosts = filepath.Join(dir, "hosts.yaml"), filepath.Join(dir, "known_hosts")
	if err := l.WriteInventory(inventory, hosts); err != nil {
		t.Fatal(err)
	}
	if err := lab.WriteKnownHosts(knownHosts, hosts); err != nil {
		t.Fatal(err)
	}
	return hosts, inventory, knownHosts
}

// API serves the lab's Metal API on loopback for the test and points runs
// at it: METAL_API_URL, METAL_AUTH_TOKEN, METAL_PROJECT_ID and
// RUNBOOK_KNOWN_HOSTS are set for the test's duration. It returns the
// server and the API's base URL.
func API(t *testing.T, l *lab.Lab) (*labapi.Server, string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := labapi.New(ctx, l, labapi.Options{})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	// Before the lab is torn down (cleanups run last first).
	t.Cleanup(func() { ts.Close(); cancel(); srv.Wait() })
	url := ts.URL + labapi.BasePath
	t.Setenv("METAL_API_URL", url)
	t.Setenv("METAL_AUTH_TOKEN", srv.Token())
	t.Setenv("METAL_PROJECT_ID", srv.Project())
	t.Setenv("RUNBOOK_KNOWN_HOSTS", l.KnownHostsFile())
	return srv, url
}
