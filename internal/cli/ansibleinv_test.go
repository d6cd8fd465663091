package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/sshtest"
)

// TestAnsibleInventoryAsJSON: `runbook inventory` shows an Ansible INI
// inventory of the seed's topology as runbook resolves it.
func TestAnsibleInventoryAsJSON(t *testing.T) {
	data, err := os.ReadFile("../../inventory/testdata/ansible/seed.ini")
	if err != nil {
		t.Fatal(err)
	}
	inv := write(t, "inventory", string(data))
	code, out, errOut := runCLI("inventory", "-i", inv, "--output", "json")
	if code != cli.ExitOK {
		t.Fatalf("%d\n%s%s", code, out, errOut)
	}
	var got struct {
		Hosts map[string]struct {
			Address string         `json:"address"`
			User    string         `json:"user"`
			Groups  []string       `json:"groups"`
			Vars    map[string]any `json:"vars"`
		} `json:"hosts"`
		Groups map[string][]string `json:"groups"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if diff := cmp.Diff([]string{"consul00", "consul01", "consul02", "fcs00", "fcc00"}, got.Groups["walkthrough"]); diff != "" {
		t.Errorf("walkthrough (-want +got):\n%s", diff)
	}
	c := got.Hosts["consul01"]
	if c.Address != "consul01" || c.User != "root" || c.Vars["consul_count"] != 3.0 || c.Vars["datacenter"] != "sv" {
		t.Errorf("consul01 = %+v", c)
	}
	if diff := cmp.Diff([]string{"walkthrough", "consul"}, c.Groups); diff != "" {
		t.Errorf("consul01's groups, least specific first (-want +got):\n%s", diff)
	}
}

func TestAnsibleInventoryErrorNamesTheLine(t *testing.T) {
	inv := write(t, "hosts", "[web]\nweb01 ansible_host=10.0.0.1\nweb02 10.0.0.2\n")
	code, out, errOut := runCLI("inventory", "-i", inv)
	if want := inv + `:3:7: host "web02": want NAME=VALUE after the host, got "10.0.0.2"`; code == cli.ExitOK || !strings.Contains(errOut, want) {
		t.Errorf("%d\n%s%s\nwant %s", code, out, errOut, want)
	}
}

// TestApplyWithAnsibleInventoryDir: a run reaches a host through the
// ansible_* variables of an INI file in an inventory directory, and
// renders a group variable of the file and one of its group_vars/.
func TestApplyWithAnsibleInventoryDir(t *testing.T) {
	s := sshtest.Start(t)
	dir, out := t.TempDir(), t.TempDir()
	files(t, dir, map[string]string{
		"inv/hosts.ini": fmt.Sprintf(`[web]
web01 ansible_host=127.0.0.1 ansible_port=%d ansible_user=%s ansible_ssh_private_key_file=%s

[web:vars]
greeting="hello from web"
`, s.Port, s.User, s.KeyFile),
		"inv/group_vars/all.yaml": "who: group_vars\n",
		"site.yaml": fmt.Sprintf(`steps:
  - name: write
    hosts: web
    task: file
    with: {path: "%s/out", content: "{{ .greeting }}, {{ .who }}, {{ .ansible_port }}"}
`, out),
	})
	code, stdout, errOut := runCLI("apply", "-i", filepath.Join(dir, "inv"), "--known-hosts", s.KnownHosts, filepath.Join(dir, "site.yaml"))
	if code != cli.ExitOK {
		t.Fatalf("%d\n%s%s", code, stdout, errOut)
	}
	got, err := os.ReadFile(filepath.Join(out, "out"))
	if want := fmt.Sprintf("hello from web, group_vars, %d", s.Port); err != nil || string(got) != want {
		t.Errorf("out = %q (%v), want %q", got, err, want)
	}
}

// TestAnsibleBecomeFromTheInventory: ansible_become and
// ansible_become_user make every step on the host run as that user, as
// become: on the step would.
func TestAnsibleBecomeFromTheInventory(t *testing.T) {
	s := sshtest.Start(t)
	dir := t.TempDir()
	// Not under t.TempDir(), whose parent only its owner may enter.
	out, err := os.MkdirTemp("", "rb-become-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(out) })
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	files(t, dir, map[string]string{
		"hosts.ini": fmt.Sprintf(`web01 ansible_host=127.0.0.1 ansible_port=%d ansible_user=%s ansible_ssh_private_key_file=%s ansible_become=true ansible_become_user=nobody
`, s.Port, s.User, s.KeyFile),
		"site.yaml": fmt.Sprintf(`steps:
  - name: who
    hosts: web01
    task: command
    with: {cmd: "id -un > %s/who", creates: "%s/who"}
`, out, out),
	})
	code, stdout, errOut := runCLI("apply", "-i", filepath.Join(dir, "hosts.ini"), "--known-hosts", s.KnownHosts, filepath.Join(dir, "site.yaml"))
	if code != cli.ExitOK {
		t.Fatalf("%d\n%s%s", code, stdout, errOut)
	}
	if got, err := os.ReadFile(filepath.Join(out, "who")); err != nil || string(got) != "nobody\n" {
		t.Errorf("the step ran as %q (%v), want nobody", got, err)
	}
}
