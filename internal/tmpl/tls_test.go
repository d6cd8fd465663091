package tmpl_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
)

func pemCert(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		t.Fatalf("no PEM in %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The CA's and the server's certificates are public: shown, and a
// rendering of them is not secret. The key is secret, as what `secret`
// returns: hidden, with whatever a template makes of it.
func TestTLSFunctions(t *testing.T) {
	path := secretsFile(t)
	const (
		caT     = `{{ tls_ca "consul/ca" "cn=Consul Agent CA" }}`
		certT   = `{{ tls_cert "consul/ca" (printf "consul/servers/%s" .host.name) "server.dc1.consul" "localhost" "127.0.0.1" }}`
		keyExpr = `tls_key (printf "consul/servers/%s" .host.name)`
		keyT    = "{{ " + keyExpr + " }}"
	)
	data := func(taint *tmpl.Taint) (map[string]any, *tmpl.Tracker) {
		d := map[string]any{"host": map[string]any{"name": "consul00"}}
		return d, taint.Track(d)
	}

	// Check mode: placeholders, not secret, nothing written.
	var set secret.Set
	taint := tmpl.NewTaint(&set)
	taint.UseSecrets(agevars.NewStore(path, true))
	for in, want := range map[string]string{
		caT: agevars.Pending("consul/ca"), certT: agevars.Pending("consul/servers/consul00"), keyT: agevars.Pending("consul/servers/consul00/key"),
	} {
		d, tr := data(taint)
		out, err := tmpl.Render(at, in, d)
		if err != nil || out != want || tr.Held() || set.Redact(out) != out {
			t.Errorf("check mode: %s gave %q, %v, held %v", in, out, err, tr.Held())
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("check mode wrote the secrets file: %v", err)
	}

	set = secret.Set{}
	taint = tmpl.NewTaint(&set)
	taint.UseSecrets(agevars.NewStore(path, false))
	render := func(in string) (string, bool) {
		t.Helper()
		d, tr := data(taint)
		out, err := tmpl.Render(at, in, d)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		return out, tr.Held()
	}
	key, held := render(keyT)
	if !strings.HasPrefix(key, "-----BEGIN EC PRIVATE KEY-----\n") || !held || set.Redact(key) != secret.Mask {
		t.Errorf("the key: held %v, shown as %q", held, set.Redact(key))
	}
	for _, in := range []string{"{{ " + keyExpr + " | upper }}", "{{ " + keyExpr + ` | printf "%q" }}`, "{{ slice (" + keyExpr + ") 40 80 }}"} {
		if out, held := render(in); !held || set.Redact(out) != secret.Mask {
			t.Errorf("%s: held %v, shown as %q", in, held, set.Redact(out))
		}
	}
	ca, held := render(caT)
	if held || set.Redact(ca) != ca || pemCert(t, ca).Subject.CommonName != "Consul Agent CA" {
		t.Errorf("the CA: held %v, shown as %q", held, set.Redact(ca))
	}
	cert, held := render(certT)
	if held || set.Redact(cert) != cert {
		t.Errorf("the certificate: held %v, shown as %q", held, set.Redact(cert))
	}
	roots := x509.NewCertPool()
	roots.AddCert(pemCert(t, ca))
	if _, err := pemCert(t, cert).Verify(x509.VerifyOptions{Roots: roots, DNSName: "server.dc1.consul"}); err != nil {
		t.Errorf("the certificate does not verify: %v", err)
	}
	// A file with the certificate and the key is secret whole, as one that
	// reads a secret variable; the certificate alone is still shown.
	both, held := render(certT + keyT)
	if shown := set.Redact(both); !held || shown != secret.Mask || set.Redact(cert) != cert {
		t.Errorf("certificate and key: held %v, shown as %q", held, shown)
	}
	// A variable made of the key is secret where it is read.
	base := map[string]any{"host": map[string]any{"name": "consul00"}}
	taint.Track(base)
	vars, err := tmpl.Resolve(map[string]tmpl.Var{"k": {Value: keyT}, "c": {Value: certT}}, base)
	if err != nil {
		t.Fatal(err)
	}
	tr := taint.Track(vars)
	if out, err := tmpl.Render(at, "{{ len .k }} {{ .c }}", vars); err != nil || !tr.Held() || set.Redact(out) != secret.Mask {
		t.Errorf("a variable of the key: %v, held %v, shown %q", err, tr.Held(), set.Redact(out))
	}
}

func TestTLSFunctionErrors(t *testing.T) {
	// Without a secrets file: where to keep them.
	var set secret.Set
	plain := tmpl.NewTaint(&set)
	for in, want := range map[string]string{
		`{{ tls_ca "consul/ca" }}`:                          `tls_ca "consul/ca": the runbook names no secrets_file to keep it in: add ` + "`secrets_file: secrets.yaml`",
		`{{ tls_cert "consul/ca" "consul/s" "a.example" }}`: `tls_cert "consul/s": the runbook names no secrets_file`,
		`{{ tls_key "consul/s" }}`:                          `tls_key "consul/s": the runbook names no secrets_file`,
	} {
		d := map[string]any{}
		plain.Track(d)
		if _, err := tmpl.Render(at, in, d); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
		if _, err := tmpl.Render(at, in, map[string]any{}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("untracked %s: %v, want %q", in, err, want)
		}
	}

	taint := tmpl.NewTaint(&set)
	taint.UseSecrets(agevars.NewStore(secretsFile(t), false))
	for in, want := range map[string]string{
		`{{ tls_cert "consul/ca" "consul/s" }}`:                      `tls_cert "consul/s": want at least one DNS name or IP address`,
		`{{ tls_cert "consul/ca" "consul/s" "a b" }}`:                `tls_cert "consul/s": "a b" is neither a DNS name nor an IP address`,
		`{{ tls_ca "consul/ca" "Consul CA" }}`:                       `tls_ca "consul/ca": "Consul CA": a CA takes cn=NAME and days=N`,
		`{{ tls_cert "consul/ca" "consul/ca" "a.example" }}`:         `certificate "consul/ca": the CA's name, not a certificate's`,
		`{{ tls_key "2x" }}`:                                         `key "2x": a name is a variable name`,
		`{{ tls_cert "consul/ca" "consul/s" "a.example" "days=0" }}`: `tls_cert "consul/s": "days=0": want a number of days`,
	} {
		d := map[string]any{}
		taint.Track(d)
		if _, err := tmpl.Render(at, in, d); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", in, err, want)
		}
	}
}
