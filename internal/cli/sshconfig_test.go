package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
)

// knownHostsOf writes one known_hosts file that knows every server.
func knownHostsOf(t *testing.T, servers ...*sshtest.Server) string {
	t.Helper()
	var known []byte
	for _, s := range servers {
		b, err := os.ReadFile(s.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		known = append(known, b...)
	}
	return write(t, "known_hosts", string(known))
}

// touchAll is a runbook that writes DIR/NAME on every host.
func touchAll(t *testing.T) (rb, dir string) {
	dir = t.TempDir()
	return write(t, "site.yaml", fmt.Sprintf(`
steps:
  - {name: touch, hosts: all, task: file, with: {path: "%s/{{ .host.name }}", content: x}}
`, dir)), dir
}

// A host alias that only ssh_config knows (here through an Include) is
// usable in a static inventory: -F and --ssh-config name the file.
func TestSSHConfigAliasInInventory(t *testing.T) {
	s := sshtest.Start(t)
	inc := write(t, "hosts.conf", fmt.Sprintf("Host myalias\n  HostName %s\n  Port %d\n  User %s\n  IdentityFile %s\n", s.Addr, s.Port, s.User, s.KeyFile))
	cfg := write(t, "ssh_config", "Include "+inc+"\n")
	inv := write(t, "hosts.yaml", "hosts:\n  myalias:\n")
	for _, flag := range []string{"-F", "--ssh-config"} {
		rb, dir := touchAll(t)
		code, out, errOut := runCLI("apply", rb, "-i", inv, "--known-hosts", s.KnownHosts, flag, cfg)
		if code != 0 {
			t.Fatalf("%s: exit %d:\n%s%s", flag, code, out, errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "myalias")); err != nil {
			t.Errorf("%s: %v", flag, err)
		}
	}
}

// A host reached only through a bastion: proxy_jump: in the inventory
// names an ssh_config alias; with the bastion's forwarding off, the run
// says which bastion failed.
func TestBastionFromTheInventory(t *testing.T) {
	tgt := sshtest.Start(t, sshtest.WithAddress("127.0.0.2"))
	for _, tc := range []struct {
		sshd string
		want string
	}{
		{sshd: "PermitOpen " + tgt.Hostport()},
		{sshd: "AllowTcpForwarding no", want: "connect to web01 via bastion bast ("},
	} {
		bast := sshtest.Start(t, sshtest.WithConfig(tc.sshd))
		cfg := write(t, "ssh_config", fmt.Sprintf("Host bast\n  HostName %s\n  Port %d\n  IdentityFile %s\n", bast.Addr, bast.Port, bast.KeyFile))
		inv := write(t, "hosts.yaml", fmt.Sprintf("hosts:\n  web01: {address: %s, port: %d, user: %s, key: %s, proxy_jump: bast}\n", tgt.Addr, tgt.Port, tgt.User, tgt.KeyFile))
		rb, dir := touchAll(t)
		code, out, errOut := runCLI("apply", rb, "-i", inv, "--known-hosts", knownHostsOf(t, tgt, bast), "-F", cfg)
		if tc.want == "" {
			if code != 0 {
				t.Fatalf("exit %d:\n%s%s", code, out, errOut)
			}
			if _, err := os.Stat(filepath.Join(dir, "web01")); err != nil {
				t.Error(err)
			}
			continue
		}
		if code != 1 || !strings.Contains(out+errOut, tc.want) {
			t.Errorf("exit %d, want 1 and %q in:\n%s%s", code, tc.want, out, errOut)
		}
	}
}

// A malformed ssh_config stops the run before any host is contacted,
// naming the file and line; so does a missing -F file.
func TestMalformedSSHConfig(t *testing.T) {
	s := sshtest.Start(t)
	cfg := write(t, "ssh_config", "Host h1\n  Port twenty-two\n")
	rb, dir := touchAll(t)
	code, out, errOut := runCLI("apply", rb, "-i", s.Inventory(t, "h1"), "--known-hosts", s.KnownHosts, "-F", cfg)
	if want := cfg + `:2:3: Port: want a port between 1 and 65535, got "twenty-two"`; code != 1 || !strings.Contains(errOut, want) {
		t.Errorf("exit %d, want 1 and %q in:\n%s%s", code, want, out, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the run went on: %v", entries)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	code, _, errOut = runCLI("apply", rb, "-i", s.Inventory(t, "h1"), "-F", missing)
	if code != 1 || !strings.Contains(errOut, missing) {
		t.Errorf("missing -F file: exit %d: %s", code, errOut)
	}
}
