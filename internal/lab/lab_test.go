package lab_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/lab"
	"github.com/runbookdev/runbook/internal/labtest"
	"github.com/runbookdev/runbook/internal/transport"
)

func connect(t *testing.T, l *lab.Lab, h *lab.Host, knownHosts string) transport.Conn {
	t.Helper()
	pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{knownHosts}}, Timeout: 10 * time.Second}
	t.Cleanup(func() { pool.Close() })
	c, err := pool.Get(context.Background(), transport.Target{Name: h.Name, Address: h.Public.String(), User: "root", KeyFile: l.KeyFile()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sh(t *testing.T, c transport.Conn, cmd string) string {
	t.Helper()
	res, err := c.Run(context.Background(), cmd, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("%s: %s", cmd, res.Failure())
	}
	return strings.TrimSpace(string(res.Stdout))
}

func TestFullHostLifecycle(t *testing.T) {
	l := labtest.Open(t)
	hosts, _, kh := labtest.Hosts(t, l, lab.Full, "node00", "node01")
	a, b := hosts[0], hosts[1]
	c := connect(t, l, a, kh)

	// A real host: systemd as PID 1, its own name, both networks.
	if got := sh(t, c, "systemctl is-system-running --wait || true"); got != "running" && got != "degraded" {
		t.Errorf("systemd state %q", got)
	}
	if got := sh(t, c, "cat /proc/1/comm"); got != "systemd" {
		t.Errorf("PID 1 is %q", got)
	}
	if got := sh(t, c, "hostname"); got != "node00" {
		t.Errorf("hostname %q", got)
	}
	if got := sh(t, c, fmt.Sprintf("ping -c1 -W2 %s >/dev/null && echo ok", b.Private)); got != "ok" {
		t.Errorf("node00 cannot reach node01 on the private network")
	}
	if got := sh(t, c, "/usr/games/fortune | wc -c"); got == "0" {
		t.Error("fortune printed nothing")
	}
	if a.HostKey == b.HostKey {
		t.Error("two hosts share a host key")
	}

	// Its network is its own, to configure as a bare-metal host's:
	// net.* sysctls and an nftables ruleset, in its own network
	// namespace, leaving this machine's alone; the kernel's other
	// settings stay read-only.
	forward, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	flip := "1"
	if strings.TrimSpace(string(forward)) == "1" {
		flip = "0"
	}
	if got := sh(t, c, "sysctl -w net.ipv4.ip_forward="+flip+" >/dev/null && sysctl -n net.ipv4.ip_forward"); got != flip {
		t.Errorf("net.ipv4.ip_forward on the host = %q, want %s", got, flip)
	}
	if now, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward"); string(now) != string(forward) {
		t.Fatalf("a lab host changed this machine's ip_forward: %q -> %q", forward, now)
	}
	if res, err := c.Run(context.Background(), "sysctl -w kernel.pid_max=65536", nil); err != nil || res.OK() {
		t.Errorf("a lab host may write kernel.pid_max: %v", err)
	}
	if got := sh(t, c, "nft add table inet labprobe && nft -j list tables"); !strings.Contains(got, `"labprobe"`) {
		t.Errorf("nft on the host: %s", got)
	}

	// Power off: really off; power on: the disk is as it was.
	sh(t, c, "echo kept > /root/marker")
	ctx := context.Background()
	if err := l.Stop(ctx, "node00"); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", a.Public.String()+":22", time.Second); err == nil {
		conn.Close()
		t.Fatal("sshd still answers on a stopped host")
	}
	if err := l.Start(ctx, "node00"); err != nil {
		t.Fatal(err)
	}
	c2 := connect(t, l, a, kh)
	if got := sh(t, c2, "cat /root/marker"); got != "kept" {
		t.Errorf("marker after power cycle = %q", got)
	}
	if err := l.Remove(ctx, "node01"); err != nil {
		t.Fatal(err)
	}
	if hs, _ := l.Hosts(); len(hs) != 1 {
		t.Errorf("hosts after remove: %d", len(hs))
	}
}

func TestManyLightHosts(t *testing.T) {
	l := labtest.Open(t)
	names := make([]string, 20)
	for i := range names {
		names[i] = fmt.Sprintf("light%02d", i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	hosts, _, kh := labtest.Hosts(t, l, lab.Light, names...)
	var mem int64
	for _, h := range hosts {
		mem += l.Memory(h)
	}
	t.Logf("20 light hosts use %d MB", mem>>20)
	c := connect(t, l, hosts[19], kh)
	if got := sh(t, c, "hostname"); got != "light19" {
		t.Errorf("hostname %q", got)
	}
	if err := l.Down(ctx); err != nil {
		t.Fatal(err)
	}
	if left := l.Leftovers(); !left.Empty() {
		t.Fatalf("left behind: %s", left)
	}
}

// A reboot inside a full host restarts its machine, as a real server's
// reboot does: it comes back with a new boot id and its disk as it was,
// and a clean stop still stops it for good.
func TestFullHostReboot(t *testing.T) {
	l := labtest.Open(t)
	hosts, _, kh := labtest.Hosts(t, l, lab.Full, "node00")
	h := hosts[0]
	c := connect(t, l, h, kh)
	const bootID = "cat /proc/sys/kernel/random/boot_id"
	before := sh(t, c, bootID)
	sh(t, c, "echo kept > /root/marker && sync")
	// The connection ends with the machine: what the command says is moot.
	c.Run(context.Background(), "systemctl reboot", nil)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var after string
	for after == "" || after == before {
		if ctx.Err() != nil {
			t.Fatalf("node00 did not come back with a new boot id within 3m (boot id %q, was %q)", after, before)
		}
		time.Sleep(500 * time.Millisecond)
		pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{kh}}, Timeout: 5 * time.Second}
		rc, err := pool.Get(ctx, transport.Target{Name: h.Name, Address: h.Public.String(), User: "root", KeyFile: l.KeyFile()})
		if err == nil {
			if res, err := rc.Run(ctx, bootID, nil); err == nil && res.OK() {
				after = strings.TrimSpace(string(res.Stdout))
			}
		}
		pool.Close()
	}
	if !h.Running() {
		t.Error("the host's machine is not running after the reboot")
	}
	c2 := connect(t, l, h, kh)
	if got := sh(t, c2, "cat /root/marker"); got != "kept" {
		t.Errorf("marker after reboot = %q", got)
	}
	if got := sh(t, c2, "cat /proc/1/comm"); got != "systemd" {
		t.Errorf("PID 1 after reboot is %q", got)
	}

	bg := context.Background()
	if err := l.Stop(bg, "node00"); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", h.Public.String()+":22", time.Second); err == nil {
		conn.Close()
		t.Fatal("sshd still answers on a stopped host")
	}
	if err := l.Down(bg); err != nil {
		t.Fatal(err)
	}
	if left := l.Leftovers(); !left.Empty() {
		t.Fatalf("left behind: %s", left)
	}
}
