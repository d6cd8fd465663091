// The seed walkthrough, end to end, in the lab: real hosts, a real Consul
// cluster, real sidecars, a packet capture on the lab's private network.
package runbooks_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/lab"
	"github.com/runbookdev/runbook/internal/labapi"
	"github.com/runbookdev/runbook/internal/labtest"
	"github.com/runbookdev/runbook/internal/metal"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"github.com/runbookdev/runbook/internal/transport"
	_ "github.com/runbookdev/runbook/inventory/equinixmetal"
	_ "github.com/runbookdev/runbook/tasks/all"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

type walk struct {
	t      *testing.T
	lab    *lab.Lab
	srv    *labapi.Server
	key    string
	args   []string // given to every apply
	pool   *transport.Pool
	client *metal.Client

	dir         string // a copy of the runbooks, with its own secrets file
	consul      string // the consul binary the hosts get
	lastCapture string // what the last capture saw, for failure messages
}

// copyRunbooks copies the runbooks, their templates and vars, and the
// inventory into a fresh directory, so that the secrets file the runbooks
// name (../secrets/walkthrough.yaml) is the test's own.
func copyRunbooks(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{".", "templates", "vars", "../inventory"} {
		dst := filepath.Join(root, "runbooks", d)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			t.Fatal(err)
		}
		files, err := filepath.Glob(filepath.Join(d, "*.*"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, ".go") {
				continue
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, filepath.Base(f)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	return filepath.Join(root, "runbooks")
}

func setup(t *testing.T) *walk {
	l := labtest.Open(t)
	out, err := exec.Command("../scripts/consul.sh").Output()
	if err != nil {
		t.Fatalf("build consul: %v", err)
	}
	consul := strings.TrimSpace(string(out))
	sum, err := os.ReadFile(filepath.Join(filepath.Dir(consul), "consul.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	srv, url := labtest.API(t, l)
	dir := t.TempDir()
	t.Setenv(agevars.EnvKeyFile, filepath.Join(dir, "age.key"))
	if _, err := agevars.Init(filepath.Join(dir, "age.key")); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "id_ed25519")
	if _, err := sshkeys.Generate(key, "controller"); err != nil {
		t.Fatal(err)
	}
	w := &walk{t: t, lab: l, srv: srv, key: key, dir: copyRunbooks(t), consul: consul,
		args: []string{"--output", "json", "--private-key", key, "-e", "ssh_key=" + key + ".pub",
			"-e", "consul_src=" + consul, "-e", "consul_sha256=" + strings.TrimSpace(string(sum))},
		pool:   &transport.Pool{Keys: &transport.HostKeys{Files: []string{l.KnownHostsFile()}}, KeyFiles: []string{key}, Timeout: 10 * time.Second},
		client: metal.New(url, srv.Token(), srv.Project()),
	}
	t.Cleanup(func() { w.pool.Close() })
	return w
}

func (w *walk) apply(runbook string, args ...string) tasktest.Run {
	w.t.Helper()
	argv := append(append([]string{"apply"}, w.args...), args...)
	return labkit.CLI(w.t, append(argv, filepath.Join(w.dir, runbook))...)
}

// reconnect makes the pool of sh anew, reading the known hosts file
// again: the hosts a run created since are in it now.
func (w *walk) reconnect() {
	w.pool.Close()
	w.pool = &transport.Pool{Keys: &transport.HostKeys{Files: []string{w.lab.KnownHostsFile()}}, KeyFiles: []string{w.key}, Timeout: 10 * time.Second}
}

// sh runs a command on a lab host as root.
func (w *walk) sh(host, cmd string) (string, int) {
	w.t.Helper()
	h, err := w.lab.Host(host)
	if err != nil {
		w.t.Fatal(err)
	}
	c, err := w.pool.Get(context.Background(), transport.Target{Name: host, Address: h.Public.String(), User: "root"})
	if err != nil {
		w.t.Fatal(err)
	}
	res, err := c.Run(context.Background(), cmd, nil)
	if err != nil {
		w.t.Fatalf("%s on %s: %v", cmd, host, err)
	}
	return strings.TrimSpace(string(res.Stdout)), res.Code
}

// capture reads a fortune from fcc00 with cmd while tcpdump listens on
// fcs00's wire to the private network, and reports whether the capture
// holds its text.
func (w *walk) capture(cmd string) (fortune string, seen bool) {
	w.t.Helper()
	fcs00, err := w.lab.Host("fcs00")
	if err != nil {
		w.t.Fatal(err)
	}
	pcap := filepath.Join(w.t.TempDir(), "capture.pcap")
	dump := exec.Command("tcpdump", "-i", w.lab.PrivateLink(fcs00), "--immediate-mode", "-Z", "root", "-U", "-s", "0", "-w", pcap, "tcp")
	stderr, err := dump.StderrPipe()
	if err != nil {
		w.t.Fatal(err)
	}
	if err := dump.Start(); err != nil {
		w.t.Fatalf("tcpdump: %v", err)
	}
	// Wait until it listens, and keep what it says for failure messages.
	listening := make(chan struct{})
	said := make(chan string, 1)
	go func() {
		var all strings.Builder
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			all.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "listening") {
				close(listening)
			}
		}
		said <- all.String()
	}()
	select {
	case <-listening:
	case <-time.After(10 * time.Second):
		w.t.Fatal("tcpdump did not start listening")
	}
	fortune, code := w.sh("fcc00", cmd)
	time.Sleep(500 * time.Millisecond)
	dump.Process.Signal(os.Interrupt)
	tcpdumpSaid := <-said
	dump.Wait()
	if code != 0 || fortune == "" {
		w.t.Fatalf("no fortune from %q (exit %d)", cmd, code)
	}
	data, err := os.ReadFile(pcap)
	if err != nil {
		w.t.Fatal(err)
	}
	w.lastCapture = fmt.Sprintf("%d bytes captured on %s; tcpdump said: %s", len(data), w.lab.PrivateLink(fcs00), strings.TrimSpace(tcpdumpSaid))
	// Look for the longest line: TCP may split the text, not a short line.
	longest := ""
	for _, l := range strings.Split(fortune, "\n") {
		if len(strings.TrimSpace(l)) > len(longest) {
			longest = strings.TrimSpace(l)
		}
	}
	return fortune, bytes.Contains(data, []byte(longest))
}

func changedHosts(r tasktest.Run) map[string][]string {
	out := map[string][]string{}
	for _, ev := range r.Events {
		if ev.Type == engine.HostResult && ev.Status == engine.Changed {
			out[ev.Host] = append(out[ev.Host], ev.Step)
		}
	}
	return out
}

func TestWalkthrough(t *testing.T) {
	if testing.Short() {
		t.Skip("the walkthrough boots 5 hosts and a Consul cluster")
	}
	w := setup(t)

	// The insecure starting point: fortunes cross the network in clear.
	if r := w.apply("provision.yaml"); r.Exit != 0 {
		t.Fatalf("provision: %s", r)
	}
	if r := w.apply("fortune.yaml"); r.Exit != 0 {
		t.Fatalf("fortune: %s", r)
	}
	fcs00, _ := w.lab.Host("fcs00")
	plain, seen := w.capture(fmt.Sprintf("socat -u TCP:%s:8181 -", fcs00.Private))
	if !seen {
		t.Fatalf("the plaintext fortune %q is not in the capture: the test cannot see traffic (%s)", plain, w.lastCapture)
	}

	// 1. The walkthrough as the seed ends it: the fortune behind the mesh,
	// the mesh's own control plane open (gossip, RPC and API in clear,
	// no ACLs).
	// The host firewall comes last (5.): the attacker (3.) meets the
	// control plane's own defences first.
	nofw := []string{"-e", "firewall=false"}
	open := append([]string{"-e", "gossip_encryption=false", "-e", "tls=false", "-e", "acl=false"}, nofw...)
	r := w.apply("secure.yaml", open...)
	if r.Exit != 0 {
		t.Fatalf("secure, control plane open: %s", r)
	}
	secret, seen := w.capture("socat -u TCP:127.0.0.1:9191 -")
	if seen {
		t.Errorf("the fortune %q crossed the network in clear through the mesh", secret)
	}
	if _, code := w.sh("fcc00", fmt.Sprintf("socat -u TCP:%s:8181,connect-timeout=3 - </dev/null", fcs00.Private)); code == 0 {
		t.Error("fcs00:8181 is still reachable from fcc00")
	}
	if names := w.gossipNames(); len(names) == 0 {
		t.Fatalf("no node name in the plaintext gossip: the capture cannot see it (%s)", w.lastCapture)
	}

	// 2. Hardened in place: gossip encryption, TLS and ACLs turned on by
	// rolling passes over the running cluster.
	if r = w.apply("secure.yaml", nofw...); r.Exit != 0 {
		t.Fatalf("secure, hardened: %s", r)
	}
	w.hardened()
	if names := w.gossipNames(); len(names) > 0 {
		t.Errorf("gossip shows %v in clear (%s)", names, w.lastCapture)
	}
	if _, seen := w.capture("socat -u TCP:127.0.0.1:9191 -"); seen {
		t.Error("the fortune crossed the network in clear through the hardened mesh")
	}

	// Nothing to do a second time.
	if r = w.apply("secure.yaml", nofw...); r.Exit != 0 || len(changedHosts(r)) != 0 {
		t.Fatalf("second apply changed %v: %s", changedHosts(r), r)
	}
	if r = w.apply("secure.yaml", append(nofw, "--check")...); r.Exit != 0 {
		t.Fatalf("check after converging: %s", r)
	}

	// 3. An attacker on the private network, with the Consul binary.
	w.attacker()

	// 4. Drift by hand, found and repaired.
	w.sh("fcs00", "sed -i 's/bind=127.0.0.1/bind=0.0.0.0/' /etc/systemd/system/fcs.service && systemctl daemon-reload && systemctl restart fcs")
	// The intention that lets fcc reach fcs, deleted (before a server
	// goes: the cluster keeps its leader): the servers and fcs00's agent,
	// which answers for its sidecar, now deny fcc.
	if out, code := w.sh("consul00", "CONSUL_HTTP_TOKEN_FILE="+w.tokenFile("consul00")+" consul intention delete fcc fcs 2>&1"); code != 0 {
		t.Fatalf("delete the intention: %s", out)
	}
	w.sh("consul01", "systemctl stop consul")
	w.sh("fcc00", "CONSUL_HTTP_TOKEN_FILE="+w.tokenFile("fcc00")+" consul services deregister -id=fcc-sidecar-proxy")

	r = w.apply("secure.yaml", append(nofw, "--check")...)
	drift := changedHosts(r)
	if r.Exit != tasktest.ExitDrift {
		t.Fatalf("drift check: %s", r)
	}
	for host, step := range map[string]string{"fcs00": "fortune cookie service,fcs's intentions", "consul01": "consul running", "fcc00": "fcc with an upstream to fcs"} {
		for _, want := range strings.Split(step, ",") {
			if !slices.ContainsFunc(drift[host], func(s string) bool { return strings.Contains(s, want) }) {
				t.Errorf("drift on %s: got steps %v, want %q", host, drift[host], want)
			}
		}
	}
	if r = w.apply("secure.yaml", nofw...); r.Exit != 0 {
		t.Fatalf("repair: %s", r)
	}
	if r = w.apply("secure.yaml", append(nofw, "--check")...); r.Exit != 0 {
		t.Fatalf("check after repair: %s", r)
	}

	// 5. A host firewall on every host, beside the mesh.
	if r = w.apply("secure.yaml"); r.Exit != 0 {
		t.Fatalf("firewall: %s", r)
	}
	w.firewalled()
	if r = w.apply("secure.yaml", "--check"); r.Exit != 0 {
		t.Fatalf("check with the firewall: %s", r)
	}

	// 6. Scale out.
	if r = w.apply("scale.yaml"); r.Exit != 0 {
		t.Fatalf("scale: %s", r)
	}
	w.reconnect()

	// 7. Rotation of the gossip key, the Connect CA's root and the
	// services' tokens, with a reader through the mesh that must never
	// fail.
	w.rotate("scale.yaml")

	// 8. Lose an instance: the mesh routes around it.
	devices, err := w.client.Devices(context.Background(), []string{"fcs"})
	if err != nil || len(devices) != 3 {
		t.Fatalf("fcs devices after scaling: %d %v", len(devices), err)
	}
	var fcs01 metalv1.Device
	for _, d := range devices {
		if d.GetHostname() == "fcs01" {
			fcs01 = d
		}
	}
	in := metalv1.DeviceActionInput{Type: metalv1.DEVICEACTIONINPUTTYPE_POWER_OFF}
	if _, err := w.client.API.DevicesApi.PerformAction(w.client.Ctx(context.Background()), fcs01.GetId()).DeviceActionInput(in).Execute(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		health, _ := w.sh("consul00", "curl -s -H @"+w.tokenHeader("consul00")+" 127.0.0.1:8500/v1/health/node/fcs01")
		if strings.Contains(health, `"Status":"critical"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fcs01 is not critical in Consul: %s", health)
		}
		time.Sleep(time.Second)
	}
	// fcc00's sidecar learns of it through its own agent, a moment later.
	for {
		passing, _ := w.sh("fcc00", "curl -s -H @"+w.tokenHeader("fcc00")+" '127.0.0.1:8500/v1/health/connect/fcs?passing'")
		if strings.Contains(passing, `"fcs00"`) && !strings.Contains(passing, `"fcs01"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fcc00's agent still offers fcs01 to the mesh: %s", passing)
		}
		time.Sleep(time.Second)
	}
	// Then every read succeeds: ten in a row, and the proxy is given a
	// few seconds to apply the change it was told of.
	var failures []string
	for ok, start := 0, time.Now(); ok < 10; {
		if out, code := w.sh("fcc00", "socat -u TCP:127.0.0.1:9191,connect-timeout=5 -"); code != 0 || out == "" {
			failures = append(failures, fmt.Sprintf("%s: exit %d, %d bytes", time.Since(start).Round(100*time.Millisecond), code, len(out)))
			ok = 0
		} else {
			ok++
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("reads through the mesh keep failing with fcs01 down: %s", strings.Join(failures, "; "))
		}
	}
	if len(failures) > 0 {
		t.Logf("reads that failed while fcc00's sidecar caught up: %s", strings.Join(failures, "; "))
	}
}
