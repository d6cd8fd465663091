package vault_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/vault"
	"github.com/runbookdev/runbook/internal/vaulttest"
)

func TestAPIPath(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "secret/data/consul", want: "secret/data/consul"},
		{in: "/secret/data/consul/", want: "secret/data/consul"},
		{in: "secret/consul", want: "secret/data/consul"},
		{in: "kv/prod/consul", want: "kv/data/prod/consul"},
		{in: "secret", err: "want mount/data/path"},
		{in: "secret/data", err: "names no secret"},
		{in: "secret//consul", err: "want mount/data/path"},
		{in: "secret/data/../sys", err: "want mount/data/path"},
		{in: "", err: "want mount/data/path"},
	} {
		got, err := vault.APIPath(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("APIPath(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("APIPath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

const gossip = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="

func TestReadsKVv2OncePerPath(t *testing.T) {
	s := vaulttest.Start(t)
	s.Put(t, "consul", map[string]any{"gossip_key": gossip, "port": 8301})
	token := s.Token(t, "secret/data/consul")
	s.Env(t, token)
	var set secret.Set
	r := vault.NewReader(&set)
	ctx := context.Background()

	got, err := r.Field(ctx, "secret/data/consul", "gossip_key")
	if err != nil || got != gossip {
		t.Fatalf("Field(secret/data/consul, gossip_key) = %v, %v; want the key", got, err)
	}
	if got, err := r.Field(ctx, "secret/consul", "port"); err != nil || got != "8301" {
		t.Errorf("Field(secret/consul, port) = %#v, %v; want the number's text", got, err)
	}
	for _, s := range []string{gossip, "8301", token} {
		if !set.Holds(s) {
			t.Errorf("the run's secrets do not hold %q", s)
		}
	}

	// A new version written during the run is not seen: each path is read
	// once, so every host of a run gets the same value.
	s.Put(t, "consul", map[string]any{"gossip_key": "rotated-" + gossip})
	if got, _ := r.Field(ctx, "secret/data/consul", "gossip_key"); got != gossip {
		t.Errorf("second read in the run gave %v, want the first read's value", got)
	}
	if got, _ := vault.NewReader(&set).Field(ctx, "secret/data/consul", "gossip_key"); got != "rotated-"+gossip {
		t.Errorf("a new run read %v, want the new version", got)
	}
}

func TestLogsInFromTokenFileAndAppRole(t *testing.T) {
	s := vaulttest.Start(t)
	s.Put(t, "consul", map[string]any{"gossip_key": gossip})
	ctx := context.Background()

	t.Run("token file", func(t *testing.T) {
		s.Env(t, "")
		token := s.Token(t, "secret/data/consul")
		home, _ := os.UserHomeDir()
		if err := os.WriteFile(filepath.Join(home, ".vault-token"), []byte(token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var set secret.Set
		if got, err := vault.NewReader(&set).Field(ctx, "secret/data/consul", "gossip_key"); err != nil || got != gossip {
			t.Errorf("with ~/.vault-token: %v, %v", got, err)
		}
		if !set.Holds(token) {
			t.Error("the token from ~/.vault-token is not secret")
		}
	})
	t.Run("approle", func(t *testing.T) {
		s.Env(t, "")
		role, sid := s.AppRole(t, "secret/data/consul")
		t.Setenv("VAULT_ROLE_ID", role)
		t.Setenv("VAULT_SECRET_ID", sid)
		var set secret.Set
		if got, err := vault.NewReader(&set).Field(ctx, "secret/data/consul", "gossip_key"); err != nil || got != gossip {
			t.Errorf("with an AppRole: %v, %v", got, err)
		}
		if !set.Holds(sid) {
			t.Error("the AppRole's secret ID is not secret")
		}
		t.Setenv("VAULT_SECRET_ID", "not-"+sid)
		_, err := vault.NewReader(&set).Field(ctx, "secret/data/consul", "gossip_key")
		if err == nil || !strings.Contains(err.Error(), "check VAULT_ROLE_ID and VAULT_SECRET_ID") {
			t.Errorf("with a wrong secret ID: %v; want it refused, saying what to check", err)
		}
	})
}

// Errors say which path or field and what to do, and never hold a value.
func TestErrorsSayWhatToDo(t *testing.T) {
	s := vaulttest.Start(t)
	s.Put(t, "consul", map[string]any{"gossip_key": gossip, "acl_token": "acl-" + gossip})
	s.Put(t, "other", map[string]any{"x": gossip})
	s.Put(t, "gone", map[string]any{"x": gossip})
	ctx := context.Background()
	if err := s.Client.KVv2("secret").Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if err := s.Client.Sys().Mount("kv1", &api.MountInput{Type: "kv", Options: map[string]string{"version": "1"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Client.Logical().Write("kv1/data/consul", map[string]any{"gossip_key": gossip}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, token, path, field string
		want                     []string
	}{
		{"no token", "", "secret/data/consul", "gossip_key",
			[]string{"no Vault token", "VAULT_TOKEN", "vault login", "VAULT_ROLE_ID"}},
		{"denied", s.Token(t, "secret/data/other"), "secret/data/consul", "gossip_key",
			[]string{"secret/data/consul", "permission denied", "VAULT_TOKEN", `grants "read" on secret/data/consul`}},
		{"bad token", "hvs.not-a-token", "secret/data/consul", "gossip_key",
			[]string{"secret/data/consul", "permission denied", "invalid or expired"}},
		{"missing field", s.Token(t, "secret/data/consul"), "secret/data/consul", "gosip_key",
			[]string{`secret/data/consul has no field "gosip_key"`, "acl_token, gossip_key"}},
		{"no secret", s.Token(t, "secret/data/*"), "secret/data/nothing", "x",
			[]string{"secret/data/nothing", "no secret there", "vault kv put"}},
		{"deleted", s.Token(t, "secret/data/gone"), "secret/gone", "x",
			[]string{"secret/data/gone", "latest version (1) is deleted", "vault kv undelete"}},
		{"kv v1", s.Token(t, "kv1/data/consul"), "kv1/data/consul", "gossip_key",
			[]string{"kv1/data/consul", "not a KV version 2 secret", "is kv1 a KV v2 mount?"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.Env(t, tc.token)
			var set secret.Set
			_, err := vault.NewReader(&set).Field(ctx, tc.path, tc.field)
			if err == nil {
				t.Fatal("read succeeded, want an error")
			}
			t.Log(err)
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), gossip) {
				t.Errorf("error %q holds a secret value", err)
			}
		})
	}

	t.Run("no server", func(t *testing.T) {
		s.Env(t, "x")
		t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
		t.Setenv("VAULT_MAX_RETRIES", "0")
		_, err := vault.NewReader(&secret.Set{}).Field(ctx, "secret/data/consul", "gossip_key")
		if err == nil || !strings.Contains(err.Error(), "http://127.0.0.1:1 (VAULT_ADDR)") {
			t.Errorf("error %v does not name the address and VAULT_ADDR", err)
		}
	})
}
