// Where operators' fleets are: a host reachable only through a bastion
// (ProxyJump in ssh_config), whose sudo asks for a password.
package runbooks_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/lab"
	"github.com/runbookdev/runbook/internal/labtest"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

func TestBastionAndSudoPassword(t *testing.T) {
	if testing.Short() {
		t.Skip("boots two lab hosts")
	}
	l := labtest.Open(t)
	hosts, _, knownHosts := labtest.Hosts(t, l, lab.Light, "bastion", "inner")
	bastion, inner := hosts[0], hosts[1]
	ctx := context.Background()
	pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{knownHosts}}, KeyFiles: []string{l.KeyFile()}, Timeout: 10 * time.Second}
	defer pool.Close()
	c, err := pool.Get(ctx, transport.Target{Name: "inner", Address: inner.Public.String(), User: "root"})
	if err != nil {
		t.Fatal(err)
	}
	const password = "c0rrect-h0rse-Battery"
	pub, err := os.ReadFile(l.KeyFile() + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	// inner: an operator account whose sudo asks for its password, and an
	// sshd that listens on the private network only and lets in nobody
	// but from the bastion.
	setup := fmt.Sprintf(`set -e
useradd -m -s /bin/bash ops
printf 'ops:%%s\n' '%[1]s' | chpasswd
printf 'ops ALL=(ALL) ALL\n' > /etc/sudoers.d/ops && chmod 0440 /etc/sudoers.d/ops
install -d -m 0700 -o ops -g ops /home/ops/.ssh
printf '%%s\n' '%[2]s' > /home/ops/.ssh/authorized_keys && chown ops:ops /home/ops/.ssh/authorized_keys
printf 'ListenAddress %[3]s\nAllowUsers root@%[4]s ops@%[4]s\n' >> /etc/ssh/sshd_config
/usr/sbin/sshd -t
pkill -HUP -o -x sshd
`, password, strings.TrimSpace(string(pub)), inner.Private, bastion.Private)
	if res, err := c.Run(ctx, setup, nil); err != nil || res.Code != 0 {
		t.Fatalf("set up inner: %v %s", err, res.Stderr)
	}

	// inner's host key, under its private address, for the hop through
	// the bastion.
	kh, err := os.ReadFile(knownHosts)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, line := range strings.Split(string(kh), "\n") {
		lines = append(lines, line)
		if addr, key, ok := strings.Cut(line, " "); ok && addr == inner.Public.String() {
			lines = append(lines, inner.Private.String()+" "+key)
		}
	}
	dir := t.TempDir()
	known := filepath.Join(dir, "known_hosts")
	sshConfig := filepath.Join(dir, "ssh_config")
	inv := filepath.Join(dir, "hosts.yaml")
	site := filepath.Join(dir, "site.yaml")
	files := map[string]string{
		known: strings.Join(lines, "\n"),
		sshConfig: fmt.Sprintf(`Host inner
  HostName %s
  User ops
  ProxyJump root@%s
  IdentityFile %s
`, inner.Private, bastion.Public, l.KeyFile()),
		inv:  "hosts:\n  inner:\n    vars: {become_password: !secret " + password + "}\n",
		site: "steps:\n  - {name: as root, hosts: inner, become: true, task: file, with: {path: /root/through-the-bastion, content: \"hello\\n\", mode: \"0600\"}}\n",
	}
	for p, content := range files {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	args := func(extra ...string) []string {
		return append([]string{"apply", "--output", "json", "-i", inv, "--known-hosts", known, "--private-key", l.KeyFile()}, extra...)
	}

	// Straight to inner, without the bastion: not let in.
	direct := filepath.Join(dir, "direct.yaml")
	os.WriteFile(direct, []byte(fmt.Sprintf("hosts:\n  inner:\n    address: %s\n    user: ops\n", inner.Private)), 0o600)
	if r := labkit.CLI(t, "apply", "--output", "json", "-i", direct, "--known-hosts", known, "--private-key", l.KeyFile(), "--connect-timeout", "5s", site); r.Exit == 0 || r.Result("as root").Status != "unreachable" {
		t.Fatalf("inner was reached without the bastion: %s", r)
	}

	// Through the bastion, as ssh_config says, and sudo with the password.
	r := labkit.CLI(t, append(args("-F", sshConfig), site)...)
	if r.Exit != tasktest.ExitOK || r.Result("as root").Status != "changed" {
		t.Fatalf("through the bastion: %s", r)
	}
	if res, _ := c.Run(ctx, "stat -c '%U %a' /root/through-the-bastion", nil); strings.TrimSpace(string(res.Stdout)) != "root 600" {
		t.Errorf("the file is %q", res.Stdout)
	}
	if strings.Contains(r.String(), password) {
		t.Errorf("the password is in the output: %s", r)
	}
	// Check mode reads the host through the bastion too: nothing to do.
	if r = labkit.CLI(t, append(args("-F", sshConfig, "--check"), site)...); r.Exit != tasktest.ExitOK {
		t.Fatalf("check through the bastion: %s", r)
	}

	// A wrong password: a clear failure for the host, not a hang.
	os.WriteFile(inv, []byte("hosts:\n  inner:\n    vars: {become_password: !secret wr0ng-password}\n"), 0o600)
	start := time.Now()
	r = labkit.CLI(t, append(args("-F", sshConfig, "--check"), site)...)
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Result("as root").Message, "incorrect password") {
		t.Fatalf("wrong password: %s", r)
	}
	if took := time.Since(start); took > time.Minute {
		t.Errorf("a wrong password took %s", took)
	}
}
