// Package vaulttest starts a real Vault server (-dev: in memory, unsealed,
// KV version 2 at secret/) on a loopback port of its own for a test.
package vaulttest

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
	"github.com/runbookdev/runbook/internal/toolbin"
)

// Server is a running Vault dev server.
type Server struct {
	Addr      string // its API, http://127.0.0.1:port
	RootToken string
	Client    *api.Client // logged in as root
	cmd       *exec.Cmd
}

// Binary finds the vault binary: $RUNBOOK_VAULT, then the one
// scripts/vault.sh builds into the machine's cache, then $PATH (see
// toolbin.Find).
func Binary(t testing.TB) string {
	t.Helper()
	return toolbin.Find(t, toolbin.Tool{Name: "vault", Module: "github.com/hashicorp/vault", Env: "RUNBOOK_VAULT", Needs: "a Vault server"})
}

// Start starts a dev server that lives as long as the test, and waits until
// it is unsealed and its KV engine answers.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary(t)
	dir := t.TempDir()
	s := &Server{RootToken: "root-" + rand.Text()}
	log, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		t.Fatal(err)
	}
	// The dev server listens for its cluster on the port after the API's,
	// so both must be free.
	port := freePortPair(t)
	s.Addr = fmt.Sprintf("http://127.0.0.1:%d", port)
	s.cmd = exec.Command(bin, "server", "-dev", "-dev-no-store-token",
		"-dev-listen-address", fmt.Sprintf("127.0.0.1:%d", port),
		"-dev-root-token-id", s.RootToken, "-log-level", "warn")
	// The root token goes in argv: it is a throwaway made for this test.
	// HOME is the test's, so nothing touches the real ~/.vault-token, and
	// no VAULT_* setting of the person running the tests reaches it.
	s.cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH")}
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { s.cmd.Wait(); log.Close(); close(exited) }()
	t.Cleanup(func() {
		s.cmd.Process.Kill()
		<-exited
	})
	cfg := api.DefaultConfig()
	cfg.Address = s.Addr
	if s.Client, err = api.NewClient(cfg); err != nil {
		t.Fatal(err)
	}
	s.Client.SetToken(s.RootToken)
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := s.Client.KVv2("secret").Get(ctx, "vaulttest-ready")
		cancel()
		if err == nil || strings.Contains(err.Error(), "secret not found") {
			return s
		}
		select {
		case <-exited:
			t.Fatalf("vault server exited at start: %s", toolbin.Tail(log.Name()))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("vault server on %s not ready after 60s (%v): %s", s.Addr, err, toolbin.Tail(log.Name()))
		}
	}
}

// Put writes data as a new version of the KV v2 secret at secret/<path>.
func (s *Server) Put(t testing.TB, path string, data map[string]any) {
	t.Helper()
	if _, err := s.Client.KVv2("secret").Put(context.Background(), path, data); err != nil {
		t.Fatalf("vault kv put secret/%s: %v", path, err)
	}
}

// Token makes a token whose only policy lets it read the named KV v2 paths
// (such as "secret/data/consul").
func (s *Server) Token(t testing.TB, paths ...string) string {
	t.Helper()
	var hcl strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&hcl, "path %q { capabilities = [\"read\"] }\n", p)
	}
	name := "vaulttest-" + strings.ToLower(rand.Text()[:8])
	if err := s.Client.Sys().PutPolicy(name, hcl.String()); err != nil {
		t.Fatalf("vault policy write %s: %v", name, err)
	}
	sec, err := s.Client.Auth().Token().Create(&api.TokenCreateRequest{Policies: []string{name}, NoDefaultPolicy: true})
	if err != nil {
		t.Fatalf("vault token create -policy=%s: %v", name, err)
	}
	return sec.Auth.ClientToken
}

// AppRole enables AppRole login and makes a role that may read the named
// paths; it returns the role's ID and a secret ID for it.
func (s *Server) AppRole(t testing.TB, paths ...string) (roleID, secretID string) {
	t.Helper()
	if err := s.Client.Sys().EnableAuthWithOptions("approle", &api.EnableAuthOptions{Type: "approle"}); err != nil && !strings.Contains(err.Error(), "path is already in use") {
		t.Fatalf("vault auth enable approle: %v", err)
	}
	var hcl strings.Builder
	for _, p := range paths {
		fmt.Fprintf(&hcl, "path %q { capabilities = [\"read\"] }\n", p)
	}
	name := "vaulttest-" + strings.ToLower(rand.Text()[:8])
	if err := s.Client.Sys().PutPolicy(name, hcl.String()); err != nil {
		t.Fatalf("vault policy write %s: %v", name, err)
	}
	if _, err := s.Client.Logical().Write("auth/approle/role/"+name, map[string]any{"token_policies": name}); err != nil {
		t.Fatalf("vault write auth/approle/role/%s: %v", name, err)
	}
	r, err := s.Client.Logical().Read("auth/approle/role/" + name + "/role-id")
	if err != nil {
		t.Fatalf("vault read auth/approle/role/%s/role-id: %v", name, err)
	}
	w, err := s.Client.Logical().Write("auth/approle/role/"+name+"/secret-id", nil)
	if err != nil {
		t.Fatalf("vault write auth/approle/role/%s/secret-id: %v", name, err)
	}
	return r.Data["role_id"].(string), w.Data["secret_id"].(string)
}

// Env points the test's VAULT_* settings at the server with token (none
// when empty), and keeps ~/.vault-token out of it.
func (s *Server) Env(t testing.TB, token string) {
	t.Helper()
	for _, k := range []string{"VAULT_ROLE_ID", "VAULT_SECRET_ID", "VAULT_APPROLE_MOUNT", "VAULT_NAMESPACE", "VAULT_CACERT", "VAULT_CAPATH"} {
		t.Setenv(k, "")
	}
	t.Setenv("VAULT_ADDR", s.Addr)
	t.Setenv("VAULT_TOKEN", token)
	t.Setenv("HOME", t.TempDir())
}

// moduleRoot finds runbook's module directory and the Vault version
// tools/vault builds.

// freePortPair finds a port p with p+1 free too, for the dev server's API
// and cluster listeners.
func freePortPair(t testing.TB) int {
	t.Helper()
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		l.Close()
		if err == nil {
			l2.Close()
			return p
		}
	}
	t.Fatal("no two free loopback ports in a row for a vault server")
	return 0
}
