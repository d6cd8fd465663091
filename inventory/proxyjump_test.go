package inventory_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/inventory"
)

func proxyJumps(t *testing.T, name, content string) map[string]string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	prov, err := inventory.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Sources{prov}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, h := range inv.Hosts() {
		out[h.Name] = h.ProxyJump
	}
	return out
}

// The bastions a host is reached through: runbook's proxy_jump: (a host's
// own, or the defaults'), and Ansible's ansible_ssh_common_args as
// Ansible's documentation writes them, wherever they are set.
func TestProxyJump(t *testing.T) {
	got := proxyJumps(t, "hosts.yaml", `
defaults: {proxy_jump: admin@bast1:2222}
hosts:
  web01:
  web02: {proxy_jump: "bast1,bast2"}
  bast1: {proxy_jump: none}
`)
	want := map[string]string{"web01": "admin@bast1:2222", "web02": "bast1,bast2", "bast1": "none"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("static (-want +got):\n%s", d)
	}
	got = proxyJumps(t, "hosts", `
bast1 ansible_host=192.0.2.1

[web]
web01
web02 ansible_ssh_common_args='-o ProxyJump=jump@bast2'

[db]
db01 ansible_ssh_common_args='-o ProxyCommand="ssh -W %h:%p -q admin@bast3"'

[web:vars]
ansible_ssh_common_args=-J bast1
`)
	want = map[string]string{"bast1": "", "web01": "bast1", "web02": "jump@bast2", "db01": "admin@bast3"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("Ansible (-want +got):\n%s", d)
	}
}

func TestProxyJumpErrors(t *testing.T) {
	for name, tc := range map[string]struct{ file, content, want string }{
		"static":  {"hosts.yaml", "hosts:\n  a: {proxy_jump: 'b,,c'}\n", `hosts.yaml:2:19: host "a": proxy_jump: ProxyJump "b,,c": an empty hop`},
		"ansible": {"hosts", "a ansible_ssh_common_args='-o ProxyCommand=\"nc %h %p\"'\n", `hosts:1:27: host "a": ansible_ssh_common_args: ProxyCommand "nc %h %p": runbook runs no command to connect`},
	} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), tc.file)
			os.WriteFile(p, []byte(tc.content), 0o644)
			prov, err := inventory.Open(p)
			if err == nil {
				_, err = inventory.Sources{prov}.Load(context.Background())
			}
			if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), filepath.Dir(p)+"/", ""), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
