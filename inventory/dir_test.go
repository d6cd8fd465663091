package inventory_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/inventory"
)

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestInventoryDir: -i DIR reads every inventory in it, as Ansible does,
// and its group_vars/ and host_vars/; a host defined in one Ansible file
// is put in groups by another.
func TestInventoryDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"01-hosts":               "web1 ansible_host=10.0.0.1\nweb2 ansible_host=10.0.0.2\n",
		"02-groups.ini":          "[web]\nweb1\nweb2\n[web:vars]\nport=80\n",
		"03-more.yaml":           "all:\n  children:\n    db:\n      hosts:\n        db1: {ansible_port: 2222}\n",
		"sub/04-runbook.yaml":    "hosts:\n  lb1: {address: 10.0.0.9}\ngroups:\n  web: {hosts: [lb1]}\n",
		"group_vars/web.yaml":    "tier: web\n",
		"group_vars/all.yaml":    "ansible_user: deploy\n",
		"host_vars/db1.yaml":     "role: primary\n",
		"README.md":              "# not an inventory\n",
		".hidden":                "not: [an inventory\n",
		"02-groups.ini~":         "garbage [\n",
		"notes.txt":              "garbage [\n",
		"old.retry":              "garbage [\n",
		"host_vars/web1.yaml":    "weight: 2\n",
		"sub/group_vars/db.yaml": "ignored: true\n",
	})
	v := viewOf(t, dir)
	want := map[string][]string{
		"all": {"web1", "web2", "db1", "lb1"},
		"web": {"web1", "web2", "lb1"},
		"db":  {"db1"},
	}
	if diff := cmp.Diff(want, v.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
	if got := v.Hosts["web1"]; got != " deploy@10.0.0.1:0 key= become=false/" {
		t.Errorf("web1: %s", got)
	}
	if got := v.Hosts["db1"]; got != " deploy@db1:2222 key= become=false/" {
		t.Errorf("db1: %s", got)
	}
	if got := v.Hosts["lb1"]; got != " @10.0.0.9:0 key= become=false/" {
		t.Errorf("lb1 (runbook's own inventory: no ansible_ variables): %s", got)
	}
	if diff := cmp.Diff(map[string]any{"ansible_host": "10.0.0.1", "ansible_user": "deploy", "port": 80, "tier": "web", "weight": 2}, v.Vars["web1"]); diff != "" {
		t.Errorf("web1's variables (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]any{"ansible_port": 2222, "ansible_user": "deploy", "role": "primary"}, v.Vars["db1"]); diff != "" {
		t.Errorf("db1's variables (-want +got):\n%s", diff)
	}
}

func TestInventoryDirErrors(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"README.md": "x\n", "group_vars/all.yaml": "a: 1\n"})
	if _, err := inventory.Open(dir); err == nil || !strings.Contains(err.Error(), "holds no inventory file") {
		t.Errorf("empty directory: %v", err)
	}
	writeFiles(t, dir, map[string]string{"hosts": "[web]\nw1 port\n"})
	_, err := inventory.Open(dir)
	if want := filepath.Join(dir, "hosts") + `:2:4: host "w1": want NAME=VALUE`; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %s", err, want)
	}
}
