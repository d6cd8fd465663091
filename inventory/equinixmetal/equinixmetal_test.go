package equinixmetal_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/inventory"
	_ "github.com/runbookdev/runbook/inventory/equinixmetal"
)

// The equinix-metal inventory reads group_vars/ and host_vars/ beside its
// file too, for the groups and hosts the API reports.
func TestMetalGroupAndHostVars(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"devices": [{"id": "d1", "hostname": "consul00", "state": "active", "tags": ["consul"],
			"ip_addresses": [{"address": "192.0.2.10", "public": true, "address_family": 4}]}],
			"meta": {"current_page": 1, "last_page": 1, "total": 1}}`))
	}))
	defer api.Close()
	t.Setenv("METAL_API_URL", api.URL)
	t.Setenv("METAL_AUTH_TOKEN", "token")
	t.Setenv("METAL_PROJECT_ID", "project")
	dir := t.TempDir()
	for name, content := range map[string]string{
		"metal.yaml":              "plugin: equinix-metal\nvars: {role: any}\n",
		"group_vars/consul.yaml":  "role: server\nport: 8300\n",
		"host_vars/consul00.yaml": "port: 8301\n",
	} {
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := inventory.Open(filepath.Join(dir, "metal.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Sources{p}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	merged := map[string]any{}
	for _, l := range inv.VarLayers("consul00") {
		for k, v := range l {
			merged[k] = v.Value
		}
	}
	if merged["role"] != "server" || merged["port"] != 8301 {
		t.Errorf("consul00's variables: %v", merged)
	}
}

// Devices reached at their private address through a bastion, as
// bare-metal fleets often are: proxy_jump applies to every device, and a
// malformed one is refused where it is written.
func TestMetalProxyJump(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"devices": [{"id": "d1", "hostname": "web00", "state": "active",
			"ip_addresses": [{"address": "10.0.0.5", "public": false, "address_family": 4}]}],
			"meta": {"current_page": 1, "last_page": 1, "total": 1}}`))
	}))
	defer api.Close()
	t.Setenv("METAL_API_URL", api.URL)
	t.Setenv("METAL_AUTH_TOKEN", "token")
	t.Setenv("METAL_PROJECT_ID", "project")
	dir := t.TempDir()
	file := filepath.Join(dir, "metal.yaml")
	os.WriteFile(file, []byte("plugin: equinix-metal\naddress: private\nproxy_jump: root@bastion.example.com\n"), 0o644)
	p, err := inventory.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Sources{p}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := inv.Host("web00"); h == nil || h.Address != "10.0.0.5" || h.ProxyJump != "root@bastion.example.com" {
		t.Errorf("web00 = %+v", h)
	}
	os.WriteFile(file, []byte("plugin: equinix-metal\nproxy_jump: 'a,,b'\n"), 0o644)
	if _, err := inventory.Open(file); err == nil || !strings.Contains(err.Error(), file+`:2:13: proxy_jump: ProxyJump "a,,b": an empty hop`) {
		t.Errorf("Open = %v", err)
	}
}
