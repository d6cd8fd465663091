package tmpl_test

import (
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/internal/vaulttest"
)

// TestVaultValuesAreSecret: {{ vault }} reads a KV v2 field, and what it
// gives, and what templates make of it, is secret for the run.
func TestVaultValuesAreSecret(t *testing.T) {
	const key = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
	s := vaulttest.Start(t)
	s.Put(t, "consul", map[string]any{"gossip_key": key})
	s.Env(t, s.Token(t, "secret/data/consul"))

	var set secret.Set
	taint := tmpl.NewTaint(&set)
	for _, tc := range []struct{ in, want string }{
		{`{{ vault "secret/data/consul" "gossip_key" }}`, key},
		{`{{ vault "secret/consul" "gossip_key" }}`, key},
		{`{{ (vault "secret/data/consul").gossip_key }}`, key},
		{`{{ with vault "secret/data/consul" }}{{ .gossip_key | upper }}{{ end }}`, strings.ToUpper(key)},
		{`encrypt = {{ vault "secret/data/consul" "gossip_key" | toJSON }}`, `encrypt = "` + key + `"`},
	} {
		data := map[string]any{}
		tr := taint.Track(data)
		out, err := tmpl.Render(at, tc.in, data)
		if err != nil || out != tc.want {
			t.Errorf("%s = %q, %v; want %q", tc.in, out, err, tc.want)
			continue
		}
		if !tr.Held() {
			t.Errorf("%s: the rendering is not seen to hold a secret", tc.in)
		}
		if shown := set.Redact(out); strings.Contains(shown, key) || strings.Contains(strings.ToLower(shown), strings.ToLower(key)) {
			t.Errorf("%s is shown as %q", tc.in, shown)
		}
	}

	data := map[string]any{}
	taint.Track(data)
	_, err := tmpl.Render(at, `{{ vault "secret/data/consul" "gossip" }}`, data)
	if err == nil || !strings.Contains(err.Error(), "site.yaml:3:7") || !strings.Contains(err.Error(), `secret/data/consul has no field "gossip"`) {
		t.Errorf("a missing field: %v; want the place, the path and the field", err)
	}
	t.Log(err)
}

// TestVaultParsesOutsideARun: runbook checks parse templates before any
// run; the name is known there, and reading needs a run.
func TestVaultParsesOutsideARun(t *testing.T) {
	if _, err := tmpl.Parse(at, `{{ vault "secret/data/consul" "gossip_key" }}`); err != nil {
		t.Errorf("Parse: %v", err)
	}
	_, err := tmpl.Render(at, `{{ vault "secret/data/consul" "gossip_key" }}`, map[string]any{})
	if err == nil || !strings.Contains(err.Error(), "only while a run") {
		t.Errorf("Render outside a run: %v", err)
	}
}
