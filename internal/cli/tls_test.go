package cli_test

import (
	"crypto/tls"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/cli"
)

// tlsRunbook writes a CA certificate, a server key and a server
// certificate for names to every host, with a handler that marks the
// host restarted when any of them changes.
func tlsRunbook(out string, names ...string) string {
	sans := `"server.dc1.consul" "localhost" "127.0.0.1" (printf "%s.server.dc1.consul" .host.name)`
	for _, n := range names {
		sans += ` "` + n + `"`
	}
	return `secrets_file: secrets.yaml
vars:
  leaf: 'consul/servers/{{ .host.name }}'
steps:
  - name: CA certificate
    hosts: all
    task: file
    with: {path: "` + out + `/{{ .host.name }}-ca.pem", content: '{{ tls_ca "consul/ca" "cn=Consul Agent CA" }}', mode: "0644"}
    notify: [restart]
  - name: server key
    hosts: all
    task: file
    with: {path: "` + out + `/{{ .host.name }}-server-key.pem", content: '{{ tls_key .leaf }}', mode: "0600"}
    notify: [restart]
  - name: server certificate
    hosts: all
    task: file
    with: {path: "` + out + `/{{ .host.name }}-server.pem", content: '{{ tls_cert "consul/ca" .leaf ` + sans + ` }}', mode: "0644"}
    notify: [restart]
handlers:
  - {name: restart, task: command, with: {cmd: 'touch ` + out + `/{{ .host.name }}-restarted'}}
`
}

// A CA and per-server certificates made once and kept encrypted: --check
// on a fresh secrets file writes nothing; a run writes the CA, each
// server's key (0600) and certificate, which openssl verifies; later runs
// change nothing; other names issue the certificate anew, keeping key and
// CA, and the handler runs; no key shows in any output.
func TestTLSCertificatesOnHosts(t *testing.T) {
	ageHome(t)
	f := newFleet(t, "")
	dir, out := t.TempDir(), t.TempDir()
	secretsFile := filepath.Join(dir, "secrets.yaml")
	site := filepath.Join(dir, "site.yaml")
	files(t, dir, map[string]string{"site.yaml": tlsRunbook(out)})
	hosts := []string{"web01", "web02", "db01"}
	var all strings.Builder
	apply := func(want int, args ...string) string {
		t.Helper()
		code, stdout, errOut := f.apply(append(args, site)...)
		all.WriteString(stdout + errOut)
		if code != want {
			t.Fatalf("%v: exit %d, want %d\n%s%s", args, code, want, stdout, errOut)
		}
		return stdout
	}

	stdout := apply(cli.ExitDrift, "--check", "--diff")
	if _, err := os.Stat(secretsFile); !os.IsNotExist(err) {
		t.Fatalf("check mode wrote the secrets file: %v", err)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Fatalf("check mode wrote %v", entries)
	}
	for _, want := range []string{"(secret consul/ca: not made yet", "(secret consul/servers/web01/key: not made yet", "(secret consul/servers/db01: not made yet"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("check mode does not show %q:\n%s", want, stdout)
		}
	}

	stdout = apply(cli.ExitOK, "--diff")
	t.Logf("apply:\n%s", stdout)
	pem := func(h, name string) string { return read(t, filepath.Join(out, h+"-"+name+".pem")) }
	var keys []string
	for _, h := range hosts {
		if pem(h, "ca") != pem("web01", "ca") {
			t.Errorf("%s has another CA", h)
		}
		if m := mode(t, filepath.Join(out, h+"-server-key.pem")); m != 0o600 {
			t.Errorf("%s's key: mode %v", h, m)
		}
		ca, cert := filepath.Join(out, h+"-ca.pem"), filepath.Join(out, h+"-server.pem")
		for _, purpose := range []string{"sslserver", "sslclient"} {
			if b, err := exec.Command("openssl", "verify", "-purpose", purpose, "-CAfile", ca, cert).CombinedOutput(); err != nil {
				t.Errorf("%s: openssl verify -purpose %s: %v\n%s", h, purpose, err, b)
			}
		}
		if _, err := tls.X509KeyPair([]byte(pem(h, "server")), []byte(pem(h, "server-key"))); err != nil {
			t.Errorf("%s: the key is not the certificate's: %v", h, err)
		}
		if b, err := exec.Command("openssl", "x509", "-noout", "-checkhost", h+".server.dc1.consul", "-checkip", "127.0.0.1", "-in", cert).CombinedOutput(); err != nil || strings.Contains(string(b), "does NOT match") {
			t.Errorf("%s: openssl x509 -checkhost: %v\n%s", h, err, b)
		}
		if _, err := os.Stat(filepath.Join(out, h+"-restarted")); err != nil {
			t.Errorf("%s: the handler did not run: %v", h, err)
		}
		keys = append(keys, pem(h, "server-key"))
	}
	if pem("web01", "server-key") == pem("web02", "server-key") || pem("web01", "server") == pem("web02", "server") {
		t.Error("two servers share a key or certificate")
	}
	caKey, _, err := agevars.NewStore(secretsFile, true).Key("consul/ca")
	if err != nil {
		t.Fatal(err)
	}
	keys = append(keys, caKey)
	// The certificates are public: the diff shows them.
	if line := strings.Split(pem("db01", "server"), "\n")[1]; !strings.Contains(stdout, line) {
		t.Errorf("the diff hides the certificate's line %q", line)
	}
	kept := read(t, secretsFile)

	// Again: nothing changes, the handler does not run.
	for _, h := range hosts {
		os.Remove(filepath.Join(out, h+"-restarted"))
	}
	before := map[string]string{}
	for _, h := range hosts {
		for _, n := range []string{"ca", "server", "server-key"} {
			before[h+n] = pem(h, n)
		}
	}
	for _, args := range [][]string{{"--diff"}, {"--check", "--diff"}, {"--check", "--output", "json"}, {"--output", "json", "-v"}} {
		apply(cli.ExitOK, args...)
		if read(t, secretsFile) != kept {
			t.Errorf("%v changed the secrets file", args)
		}
	}
	for _, h := range hosts {
		if _, err := os.Stat(filepath.Join(out, h+"-restarted")); err == nil {
			t.Errorf("%s: the handler ran on a run that changed nothing", h)
		}
	}

	// Another name: check mode says why; the run issues each certificate
	// anew, keeps the keys and the CA, and restarts.
	files(t, dir, map[string]string{"site.yaml": tlsRunbook(out, "consul.example")})
	stdout = apply(cli.ExitDrift, "--check", "--diff")
	if !strings.Contains(stdout, "(certificate consul/servers/web02: would be issued anew: it is for ") || read(t, secretsFile) != kept {
		t.Errorf("check mode with another name:\n%s", stdout)
	}
	apply(cli.ExitOK, "--diff")
	for _, h := range hosts {
		if pem(h, "server") == before[h+"server"] || pem(h, "server-key") != before[h+"server-key"] || pem(h, "ca") != before[h+"ca"] {
			t.Errorf("%s: the certificate was not issued anew, or the key or CA changed", h)
		}
		if b, err := exec.Command("openssl", "x509", "-noout", "-checkhost", "consul.example", "-in", filepath.Join(out, h+"-server.pem")).CombinedOutput(); err != nil || strings.Contains(string(b), "does NOT match") {
			t.Errorf("%s: the new name: %v\n%s", h, err, b)
		}
		if _, err := os.Stat(filepath.Join(out, h+"-restarted")); err != nil {
			t.Errorf("%s: the handler did not run after the certificate changed: %v", h, err)
		}
	}
	apply(cli.ExitOK, "--check")

	var forms []string
	for _, k := range keys {
		forms = append(forms, k)
		for _, l := range strings.Split(strings.TrimSpace(k), "\n") {
			if !strings.HasPrefix(l, "-----") {
				forms = append(forms, l)
			}
		}
	}
	if found := leaks(all.String(), forms...); len(found) > 0 {
		t.Errorf("output shows a key: %q", found)
	}
}
