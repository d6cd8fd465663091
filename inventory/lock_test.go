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

func TestRunLockSetting(t *testing.T) {
	dir := t.TempDir()
	static := filepath.Join(dir, "prod.yaml")
	os.WriteFile(static, []byte("hosts:\n  web01:\nlock:\n  consul: {key: runbook/locks/prod, address: 127.0.0.1:8501}\n"), 0o644)
	metal := filepath.Join(dir, "metal.yaml")
	os.WriteFile(metal, []byte("plugin: equinix-metal\nlock: {consul: {key: runbook/locks/metal, ttl: 1m}}\ntags: [a]\n"), 0o644)
	plain := filepath.Join(dir, "plain.yaml")
	os.WriteFile(plain, []byte("hosts: {db01: }\n"), 0o644)
	var sources inventory.Sources
	for _, f := range []string{static, metal, plain} {
		p, err := inventory.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, p)
	}
	type got struct{ Key, Address, Pos string }
	var locks []got
	for _, l := range sources.RunLocks() {
		locks = append(locks, got{l.Consul.Key + " " + l.Consul.TTL.String(), l.Consul.Address, l.Pos.String()})
	}
	want := []got{
		{"runbook/locks/prod 15s", "127.0.0.1:8501", static + ":3:1"},
		{"runbook/locks/metal 1m0s", "", metal + ":2:1"},
	}
	if d := cmp.Diff(want, locks); d != "" {
		t.Errorf("RunLocks (-want +got):\n%s", d)
	}
	// The setting is not the plugin's: its hosts load as before.
	inv, err := inventory.Sources{sources[0], sources[2]}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(inv.Hosts()) != 2 {
		t.Errorf("hosts: %v", inv.Hosts())
	}
}

func TestRunLockSettingErrors(t *testing.T) {
	tests := map[string]string{
		"lock: {}\n":                                               "2:7: lock: say where the lock is held",
		"lock: {etcd: {key: x}}\n":                                 "2:8: unknown key \"etcd\"",
		"lock: {consul: {address: x}}\n":                           "missing required key \"key\"",
		"lock: {consul: {key: /runbook/locks/x}}\n":                "2:22: lock: consul: key \"/runbook/locks/x\": want a KV path",
		"lock: {consul: {key: runbook/locks/x, ttl: 5s}}\n":        "2:44: lock: consul: ttl 5s: Consul takes 10s to 24h",
		"lock: {consul: {key: runbook/locks/x, token: hunter2}}\n": "unknown key \"token\"",
	}
	for content, want := range tests {
		p := filepath.Join(t.TempDir(), "inv.yaml")
		os.WriteFile(p, []byte("hosts: {a: }\n"+content), 0o644)
		_, err := inventory.Open(p)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error with %q", content, err, want)
		}
	}
}
