package cli_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/vault/api"
	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/vaulttest"
)

// TestVaultSecretInARun: a runbook writes a key read from a real Vault
// into a file on three hosts. Vault is asked once per run, check mode
// included, and no output mode shows the key or a form of it.
func TestVaultSecretInARun(t *testing.T) {
	const key = "Gq3vX9+Lk2mWn7Rt/Yp4sZe8Ja1Hc6Ub0Df5Ni2Ow8="
	v := vaulttest.Start(t)
	v.Put(t, "consul", map[string]any{"gossip_key": key})
	audit := filepath.Join(t.TempDir(), "audit.log")
	if err := v.Client.Sys().EnableAuditWithOptions("file", &api.EnableAuditOptions{Type: "file", Options: map[string]string{"file_path": audit}}); err != nil {
		t.Fatal(err)
	}
	token := v.Token(t, "secret/data/consul")
	v.Env(t, token)

	s := sshtest.Start(t)
	dir := t.TempDir()
	inv := write(t, "hosts.yaml", fmt.Sprintf(`
defaults: {address: %s, port: %d, user: %s, key: %s}
hosts:
  c1:
  c2:
  c3:
`, s.Addr, s.Port, s.User, s.KeyFile))
	rb := write(t, "site.yaml", fmt.Sprintf(`
steps:
  - name: gossip key
    hosts: all
    task: file
    with:
      path: %[1]s/{{ .host.name }}.hcl
      mode: "0600"
      content: |
        encrypt = {{ vault "secret/data/consul" "gossip_key" | toJSON }}
  - name: leak
    hosts: all
    task: command
    ignore_errors: true
    with:
      cmd: echo {{ (vault "secret/consul").gossip_key | upper | quote }}; echo {{ vault "secret/consul" "gossip_key" | quote }} >&2; exit 1
`, dir))

	j, _ := json.Marshal(key)
	forms := []string{key, strings.ToUpper(key), strings.ToLower(key), string(j), strconv.Quote(key),
		base64.StdEncoding.EncodeToString([]byte(key)), hex.EncodeToString([]byte(key)), token}
	apply := []string{"apply", "-i", inv, "--known-hosts", s.KnownHosts, "--diff"}
	reads := 0
	for _, run := range []struct {
		name string
		args []string
	}{
		{"check", []string{"--check"}},
		{"check json", []string{"--check", "--output", "json"}},
		{"json", []string{"--output", "json"}},
		{"apply -v", []string{"-v"}},
	} {
		_, out, errOut := runCLI(append(append(append([]string{}, apply...), run.args...), rb)...)
		for _, f := range forms {
			if i := strings.Index(out+errOut, f); i >= 0 {
				t.Errorf("%s: shows %q in:\n%s%s", run.name, f, out, errOut)
			}
		}
		if !strings.Contains(out, "********") {
			t.Errorf("%s: nothing masked: is the test still reading Vault?\n%s%s", run.name, out, errOut)
		}
		if n := vaultReads(t, audit, "secret/data/consul"); n != reads+1 {
			t.Errorf("%s: Vault was asked for secret/data/consul %d times, want once a run", run.name, n-reads)
		}
		reads = vaultReads(t, audit, "secret/data/consul")
	}
	for _, h := range []string{"c1", "c2", "c3"} {
		got, err := os.ReadFile(filepath.Join(dir, h+".hcl"))
		if err != nil || string(got) != "encrypt = "+string(j)+"\n" {
			t.Errorf("%s.hcl = %q, %v; want the key from Vault", h, got, err)
		}
	}
}

// vaultReads counts the requests for path in Vault's audit log.
func vaultReads(t *testing.T, audit, path string) int {
	t.Helper()
	data, err := os.ReadFile(audit)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		var e struct {
			Type    string `json:"type"`
			Request struct {
				Path      string `json:"path"`
				Operation string `json:"operation"`
			} `json:"request"`
		}
		if json.Unmarshal([]byte(line), &e) == nil && e.Type == "request" && e.Request.Path == path && e.Request.Operation == "read" {
			n++
		}
	}
	return n
}
