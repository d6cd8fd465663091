package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/sshconfig"
	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
)

// loggedIn counts the logins an sshd started with LogLevel INFO logged.
func loggedIn(t *testing.T, s *sshtest.Server) int {
	return strings.Count(s.Log(t), "Accepted publickey for ")
}

// knownHosts writes one known_hosts file that knows every server.
func knownHosts(t *testing.T, servers ...*sshtest.Server) string {
	t.Helper()
	var b bytes.Buffer
	for _, s := range servers {
		data, err := os.ReadFile(s.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	p := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(p, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// sshConfig writes an ssh_config and reads it.
func sshConfig(t *testing.T, text string) *sshconfig.Config {
	t.Helper()
	p := filepath.Join(t.TempDir(), "ssh_config")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := sshconfig.Files(p)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// hostBlock is the ssh_config block that reaches s as alias.
func hostBlock(alias string, s *sshtest.Server) string {
	return fmt.Sprintf("Host %s\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n", alias, s.Addr, s.Port, s.User, s.KeyFile)
}

func target(name string, s *sshtest.Server, jump string) transport.Target {
	return transport.Target{Name: name, Address: s.Addr, Port: s.Port, User: s.User, KeyFile: s.KeyFile, ProxyJump: jump}
}

var infoLog = sshtest.WithConfig("LogLevel INFO")

// Hosts behind a bastion share one connection to it for the run, and
// reach it through the bastion only: with forwarding allowed on the
// bastion for the targets' ports alone, every host is reached, and the
// bastion logged one login.
func TestBastionSharedByItsHosts(t *testing.T) {
	targets := []*sshtest.Server{
		sshtest.Start(t, sshtest.WithAddress("127.0.0.2")),
		sshtest.Start(t, sshtest.WithAddress("127.0.0.3")),
		sshtest.Start(t, sshtest.WithAddress("127.0.0.4")),
	}
	var open []string
	for _, s := range targets {
		open = append(open, s.Hostport())
	}
	bast := sshtest.Start(t, infoLog, sshtest.WithConfig("PermitOpen "+strings.Join(open, " ")))
	pool := &transport.Pool{
		Keys:      &transport.HostKeys{Files: []string{knownHosts(t, append(targets, bast)...)}},
		Timeout:   30 * time.Second,
		SSHConfig: sshConfig(t, hostBlock("bast", bast)),
	}
	t.Cleanup(func() { pool.Close() })
	var wg sync.WaitGroup
	errs := make([]error, len(targets))
	for i, s := range targets {
		wg.Go(func() {
			c, err := pool.Get(context.Background(), target(fmt.Sprintf("web%d", i), s, "bast"))
			if err == nil {
				var res transport.Result
				res, err = c.Run(context.Background(), "echo ok", nil)
				if err == nil && string(res.Stdout) != "ok\n" {
					err = fmt.Errorf("echo ok printed %q", res.Stdout)
				}
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("web%d: %v", i, err)
		}
	}
	if n := pool.Bastions(); n != 1 {
		t.Errorf("Bastions = %d, want 1", n)
	}
	if n := loggedIn(t, bast); n != 1 {
		t.Errorf("the bastion logged %d logins, want 1:\n%s", n, bast.Log(t))
	}
	if err := pool.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// A bastion that may not forward to the target is the failure reported,
// named with its address.
func TestBastionThatDoesNotForward(t *testing.T) {
	tgt := sshtest.Start(t, sshtest.WithAddress("127.0.0.2"))
	for name, opt := range map[string]string{
		"AllowTcpForwarding no":   "AllowTcpForwarding no",
		"PermitOpen another port": fmt.Sprintf("PermitOpen 127.0.0.2:%d", tgt.Port+1),
	} {
		t.Run(name, func(t *testing.T) {
			bast := sshtest.Start(t, sshtest.WithConfig(opt))
			pool := &transport.Pool{
				Keys:      &transport.HostKeys{Files: []string{knownHosts(t, tgt, bast)}},
				Timeout:   30 * time.Second,
				SSHConfig: sshConfig(t, hostBlock("bast", bast)),
			}
			t.Cleanup(func() { pool.Close() })
			_, err := pool.Get(context.Background(), target("web01", tgt, "bast"))
			want := fmt.Sprintf("connect to web01 via bastion bast (%s): open a connection to %s: ", bast.Hostport(), tgt.Hostport())
			if !transport.IsConnError(err) || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "AllowTcpForwarding") {
				t.Fatalf("Get = %v, want a connection error starting %q with a hint", err, want)
			}
		})
	}
}

// A bastion's host key is checked as a host's: one that does not match
// is refused, and the host behind it is not contacted.
func TestBastionWithAWrongHostKey(t *testing.T) {
	tgt := sshtest.Start(t, sshtest.WithAddress("127.0.0.2"), infoLog)
	bast := sshtest.Start(t)
	other := sshtest.Start(t)
	// The bastion's address with another server's key.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	data, _ := os.ReadFile(other.KnownHosts)
	data = bytes.Replace(data, []byte(fmt.Sprintf("[127.0.0.1]:%d", other.Port)), []byte(fmt.Sprintf("[127.0.0.1]:%d", bast.Port)), 1)
	tdata, _ := os.ReadFile(tgt.KnownHosts)
	os.WriteFile(kh, append(data, tdata...), 0o600)
	pool := &transport.Pool{
		Keys:      &transport.HostKeys{Files: []string{kh}, AcceptNew: true},
		Timeout:   30 * time.Second,
		SSHConfig: sshConfig(t, hostBlock("bast", bast)),
	}
	t.Cleanup(func() { pool.Close() })
	_, err := pool.Get(context.Background(), target("web01", tgt, "bast"))
	want := fmt.Sprintf("connect to web01 via bastion bast (%s): host key for bast", bast.Hostport())
	if !transport.IsConnError(err) || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "CHANGED") {
		t.Fatalf("Get = %v, want %q... CHANGED", err, want)
	}
	if n := loggedIn(t, tgt); n != 0 {
		t.Errorf("the target logged %d logins, want none", n)
	}
	// The target's own key is checked through the bastion too.
	pool2 := &transport.Pool{
		Keys:      &transport.HostKeys{Files: []string{bast.KnownHosts}},
		Timeout:   30 * time.Second,
		SSHConfig: sshConfig(t, hostBlock("bast", bast)),
	}
	t.Cleanup(func() { pool2.Close() })
	_, err = pool2.Get(context.Background(), target("web01", tgt, "bast"))
	if !transport.IsConnError(err) || !strings.Contains(err.Error(), "host key for web01 ("+tgt.Hostport()+") is not known") {
		t.Fatalf("Get = %v, want the target's unknown key refused", err)
	}
}

// Two hops: each bastion may forward only to the next, so the target is
// reached through both, in order, or not at all. The second bastion is
// named by the Target, the first by user@host:port.
func TestTwoBastions(t *testing.T) {
	tgt := sshtest.Start(t, sshtest.WithAddress("127.0.0.3"))
	b2 := sshtest.Start(t, sshtest.WithAddress("127.0.0.2"), infoLog, sshtest.WithConfig("PermitOpen "+tgt.Hostport()))
	b1 := sshtest.Start(t, infoLog, sshtest.WithConfig("PermitOpen "+b2.Hostport()))
	cfg := sshConfig(t, fmt.Sprintf("Host 127.0.0.1\n  IdentityFile %s\n", b1.KeyFile)+hostBlock("b2", b2))
	kh := knownHosts(t, tgt, b1, b2)
	pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{kh}}, Timeout: 30 * time.Second, SSHConfig: cfg}
	t.Cleanup(func() { pool.Close() })
	jump := fmt.Sprintf("%s@127.0.0.1:%d,b2", b1.User, b1.Port)
	for _, name := range []string{"web01", "web02"} {
		c, err := pool.Get(context.Background(), target(name, tgt, jump))
		if err != nil {
			t.Fatal(err)
		}
		if res, err := c.Run(context.Background(), "echo ok", nil); err != nil || string(res.Stdout) != "ok\n" {
			t.Fatalf("%s: %q, %v", name, res.Stdout, err)
		}
	}
	if pool.Bastions() != 2 || loggedIn(t, b1) != 1 || loggedIn(t, b2) != 1 {
		t.Errorf("Bastions = %d, logins on b1 %d, on b2 %d; want 2, 1, 1", pool.Bastions(), loggedIn(t, b1), loggedIn(t, b2))
	}

	// In the wrong order, the first bastion cannot forward to the second:
	// the error names the first.
	pool2 := &transport.Pool{Keys: &transport.HostKeys{Files: []string{kh}}, Timeout: 30 * time.Second, SSHConfig: cfg}
	t.Cleanup(func() { pool2.Close() })
	_, err := pool2.Get(context.Background(), target("web01", tgt, fmt.Sprintf("b2,%s@127.0.0.1:%d", b1.User, b1.Port)))
	want := fmt.Sprintf("connect to web01 via bastion b2 (%s): open a connection to %s: ", b2.Hostport(), b1.Hostport())
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Get = %v, want %q...", err, want)
	}
}

// A bastion that never speaks, or a target behind a bastion that never
// speaks, is unreachable once the connect timeout has passed: neither
// holds the run.
func TestSilentBastionAndTarget(t *testing.T) {
	tarpit := sshtest.Tarpit(t)
	live := sshtest.Start(t)
	cfg := sshConfig(t, fmt.Sprintf("Host silent\n  HostName 127.0.0.1\n  Port %d\n  IdentityFile %s\n", tarpit, live.KeyFile)+hostBlock("live", live))
	for name, tc := range map[string]struct {
		t    transport.Target
		want string
	}{
		"bastion": {transport.Target{Name: "web01", Address: "127.0.0.1", Port: live.Port, User: live.User, KeyFile: live.KeyFile, ProxyJump: "silent"},
			fmt.Sprintf("connect to web01 via bastion silent (127.0.0.1:%d): ", tarpit)},
		"target": {transport.Target{Name: "web01", Address: "127.0.0.1", Port: tarpit, User: live.User, KeyFile: live.KeyFile, ProxyJump: "live"},
			fmt.Sprintf("connect to web01: %s@127.0.0.1:%d through bastion live (%s): SSH handshake not done within 1s", live.User, tarpit, live.Hostport())},
	} {
		t.Run(name, func(t *testing.T) {
			pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{live.KnownHosts}}, Timeout: time.Second, SSHConfig: cfg}
			t.Cleanup(func() { pool.Close() })
			err := within(t, 20*time.Second, "Get through a silent "+name, func(ctx context.Context) error {
				_, err := pool.Get(ctx, tc.t)
				return err
			})
			if !transport.IsConnError(err) || !strings.HasPrefix(err.Error(), tc.want) || !strings.Contains(err.Error(), "1s") {
				t.Fatalf("Get = %v, want %q... with the timeout", err, tc.want)
			}
		})
	}
}

// A ProxyJump that comes back to a hop on its way is an error, as ssh's
// "jumphost loop", not an endless chain.
func TestBastionLoop(t *testing.T) {
	s := sshtest.Start(t)
	cfg := sshConfig(t, hostBlock("bast", s)+"Host *\n  ProxyJump bast\n")
	pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{s.KnownHosts}}, Timeout: 5 * time.Second, SSHConfig: cfg}
	t.Cleanup(func() { pool.Close() })
	_, err := pool.Get(context.Background(), transport.Target{Name: "web01", Address: "10.9.9.9", KeyFile: s.KeyFile})
	if !transport.IsConnError(err) || !strings.Contains(err.Error(), "ProxyJump loop: bast") || !strings.Contains(err.Error(), "Host * !bast") {
		t.Fatalf("Get = %v, want a ProxyJump loop", err)
	}
}

// A bastion that stops answering mid-run (hung, or gone from the network
// without a word) does not hold the hosts behind it: what a live host
// answers at once (a new session) is bounded by the connect timeout, and
// the host is then unreachable.
func TestBastionThatStopsAnswering(t *testing.T) {
	tgt := sshtest.Start(t, sshtest.WithAddress("127.0.0.2"))
	bast := sshtest.Start(t)
	pool := &transport.Pool{
		Keys:      &transport.HostKeys{Files: []string{knownHosts(t, tgt, bast)}},
		Timeout:   2 * time.Second,
		SSHConfig: sshConfig(t, hostBlock("bast", bast)),
	}
	c, err := pool.Get(context.Background(), target("web01", tgt, "bast"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run(context.Background(), "true", nil); err != nil {
		t.Fatal(err)
	}
	thaw := bast.Freeze(t)
	err = within(t, 30*time.Second, "a command behind a bastion that stopped answering", func(ctx context.Context) error {
		// With stdin, the command gets a session of its own.
		_, err := c.Run(ctx, "cat", strings.NewReader("x"))
		return err
	})
	if !transport.IsConnError(err) {
		t.Fatalf("Run = %v, want a connection error", err)
	}
	thaw()
	within(t, 30*time.Second, "closing the pool", func(context.Context) error { return pool.Close() })
}
