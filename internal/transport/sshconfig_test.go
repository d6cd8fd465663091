package transport_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
)

// An alias that only ssh_config knows is reached as ssh reaches it
// (HostName, Port, User, IdentityFile with tokens), and what the target
// says wins over ssh_config; the pool's user and key come between.
func TestSSHConfigAliasAndPrecedence(t *testing.T) {
	s := sshtest.Start(t)
	wrongPort := sshtest.FreePort(t)
	keys := t.TempDir()
	// IdentityFile %d/... would need the home directory: %h, %p and %r
	// expand to the address, port and user connected to.
	key, _ := os.ReadFile(s.KeyFile)
	os.WriteFile(filepath.Join(keys, fmt.Sprintf("%s-%d-%s", s.Addr, s.Port, s.User)), key, 0o600)
	cfg := sshConfig(t, fmt.Sprintf(`
Host myalias
  HostName %s
  Port %d
  User %s
  IdentityFile %s/%%h-%%p-%%r

Host wrongport
  HostName %s
  Port %d
  IdentityFile %s

Host wronguser
  HostName %s
  Port %d
  User nosuchuser
  IdentityFile %s
`, s.Addr, s.Port, s.User, keys, s.Addr, wrongPort, s.KeyFile, s.Addr, s.Port, s.KeyFile))
	for name, tc := range map[string]struct {
		target   transport.Target
		poolUser string
		poolKey  string
		err      string
	}{
		"alias alone":                    {target: transport.Target{Name: "myalias", Address: "myalias"}},
		"the name as alias":              {target: transport.Target{Name: "myalias"}},
		"the port of the inventory wins": {target: transport.Target{Name: "h", Address: "wrongport", Port: s.Port, User: s.User}},
		"else ssh_config's port": {target: transport.Target{Name: "h", Address: "wrongport", User: s.User},
			err: fmt.Sprintf("connect to h: %s@%s:%d: ", s.User, s.Addr, wrongPort)},
		"the user of the inventory wins": {target: transport.Target{Name: "h", Address: "wronguser", User: s.User}},
		"--user wins over ssh_config":    {target: transport.Target{Name: "h", Address: "wronguser"}, poolUser: s.User},
		"else ssh_config's user": {target: transport.Target{Name: "h", Address: "wronguser"},
			err: fmt.Sprintf("connect to h: nosuchuser@%s:%d: ssh: handshake failed", s.Addr, s.Port)},
		"the key of the inventory is tried first": {target: transport.Target{Name: "myalias", Address: "myalias", KeyFile: filepath.Join(keys, "missing")},
			err: "private key: stat " + filepath.Join(keys, "missing")},
		"--private-key too": {target: transport.Target{Name: "myalias", Address: "myalias"}, poolKey: filepath.Join(keys, "missing"),
			err: "private key: stat " + filepath.Join(keys, "missing")},
	} {
		t.Run(name, func(t *testing.T) {
			pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{s.KnownHosts}}, Timeout: 30 * time.Second, SSHConfig: cfg, User: tc.poolUser}
			if tc.poolKey != "" {
				pool.KeyFiles = []string{tc.poolKey}
			}
			t.Cleanup(func() { pool.Close() })
			c, err := pool.Get(context.Background(), tc.target)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Get = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if res, err := c.Run(context.Background(), "echo ok", nil); err != nil || string(res.Stdout) != "ok\n" {
				t.Fatalf("%q, %v", res.Stdout, err)
			}
		})
	}
}

// Without ssh_config, an alias it would know is not reached: the failure
// the issue met ("no SSH credentials for myalias") is what a pool without
// SSHConfig still says when no key is found.
func TestWithoutSSHConfigAnAliasIsNotKnown(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("SSH_AUTH_SOCK", "")
	pool := &transport.Pool{Keys: &transport.HostKeys{}, Timeout: 5 * time.Second}
	t.Cleanup(func() { pool.Close() })
	_, err := pool.Get(context.Background(), transport.Target{Name: "myalias", Address: "myalias"})
	if err == nil || !strings.Contains(err.Error(), "no SSH credentials for myalias") {
		t.Fatalf("Get = %v", err)
	}
}

// UserKnownHostsFile and StrictHostKeyChecking apply per host, unless the
// run chose its known_hosts files; accept-new (and no, read as
// accept-new) records an unknown key and logs it, and a changed key is
// refused whatever ssh_config says.
func TestSSHConfigHostKeys(t *testing.T) {
	s := sshtest.Start(t)
	other := sshtest.Start(t)
	dir := t.TempDir()
	fresh := filepath.Join(dir, "fresh_known_hosts")
	changed := filepath.Join(dir, "changed_known_hosts")
	data, _ := os.ReadFile(other.KnownHosts)
	os.WriteFile(changed, bytes.Replace(data, []byte(fmt.Sprint(other.Port)), []byte(fmt.Sprint(s.Port)), 1), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	block := func(alias, extra string) string {
		return hostBlock(alias, s) + extra
	}
	cfg := sshConfig(t, block("known", "  UserKnownHostsFile "+s.KnownHosts+"\n")+
		block("strict", "  UserKnownHostsFile "+empty+"\n  StrictHostKeyChecking yes\n")+
		block("acceptnew", "  UserKnownHostsFile "+fresh+"\n  StrictHostKeyChecking accept-new\n")+
		block("no", "  UserKnownHostsFile "+changed+"\n  StrictHostKeyChecking no\n"))
	// In order: the last records the key in the file "strict" reads.
	for _, tc := range []struct {
		name     string
		alias    string
		keys     *transport.HostKeys
		err      string
		recorded bool
	}{
		{name: "UserKnownHostsFile", alias: "known", keys: &transport.HostKeys{Files: []string{empty}}},
		{name: "--known-hosts wins", alias: "known", keys: &transport.HostKeys{Files: []string{empty}, Explicit: true}, err: "is not known"},
		{name: "yes refuses an unknown key", alias: "strict", keys: &transport.HostKeys{Files: []string{empty}}, err: "is not known"},
		{name: "accept-new records", alias: "acceptnew", keys: &transport.HostKeys{Files: []string{empty}}, recorded: true},
		{name: "no still refuses a changed key", alias: "no", keys: &transport.HostKeys{Files: []string{empty}}, err: "has CHANGED"},
		{name: "--accept-new-host-keys wins", alias: "strict", keys: &transport.HostKeys{Files: []string{empty}, AcceptNew: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log bytes.Buffer
			pool := &transport.Pool{Keys: tc.keys, Timeout: 30 * time.Second, SSHConfig: cfg, Log: slog.New(slog.NewTextHandler(&log, nil))}
			t.Cleanup(func() { pool.Close() })
			_, err := pool.Get(context.Background(), transport.Target{Name: "h", Address: tc.alias})
			if tc.err != "" {
				if !transport.IsConnError(err) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Get = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.recorded {
				got, _ := os.ReadFile(fresh)
				if !bytes.Contains(got, []byte(fmt.Sprintf("[127.0.0.1]:%d ssh-ed25519 ", s.Port))) {
					t.Errorf("%s = %q, want the host's key", fresh, got)
				}
				if !strings.Contains(log.String(), "trusted a host key seen for the first time") || !strings.Contains(log.String(), "StrictHostKeyChecking accept-new") {
					t.Errorf("log = %q, want the trust said", log.String())
				}
			}
		})
	}
}
