package agevars_test

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/pki"
	"gopkg.in/yaml.v3"
)

func request(t *testing.T, args ...string) pki.Request {
	t.Helper()
	r, err := pki.ParseRequest(args)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func certOf(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		t.Fatalf("not a PEM certificate: %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sealed maps each path of the file (consul/ca/key) to its value as
// written: the ciphertext of an encrypted one.
func sealed(t *testing.T, path string) map[string]string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(read(t, path)), &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(prefix string, n *yaml.Node)
	walk = func(prefix string, n *yaml.Node) {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(prefix+"/"+n.Content[i].Value, n.Content[i+1])
			}
		case yaml.ScalarNode:
			out[strings.TrimPrefix(prefix, "/")] = n.Tag + " " + n.Value
		}
	}
	walk("", doc.Content[0])
	delete(out, "runbook_encrypted/recipients")
	return out
}

// A CA and a server certificate made once for many hosts at once, kept
// encrypted, the same on every later run; check mode makes nothing.
func TestStoreCertificates(t *testing.T) {
	home(t)
	key, _ := ageKey(t)
	t.Setenv(agevars.EnvKeyFile, key)
	path := filepath.Join(t.TempDir(), "secrets.yaml")
	asked := request(t, "server.dc1.consul", "localhost", "127.0.0.1")
	const ca, leaf = "consul/ca", "consul/servers/consul00"

	// Check mode on no file: all pending, nothing written.
	check := agevars.NewStore(path, true)
	for _, tc := range []struct {
		call func() (string, bool, error)
		want string
	}{
		{func() (string, bool, error) { return check.CA(ca, pki.CAOptions{}) }, agevars.Pending(ca)},
		{func() (string, bool, error) { return check.Cert(ca, leaf, asked) }, agevars.Pending(leaf)},
		{func() (string, bool, error) { return check.Key(leaf) }, agevars.Pending(leaf + "/key")},
	} {
		if v, pending, err := tc.call(); v != tc.want || !pending || err != nil {
			t.Errorf("check mode: %q %v %v, want %q", v, pending, err, tc.want)
		}
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("check mode wrote the file: %v", err)
	}

	// Many hosts at once, asking for the CA, the key and the certificate
	// in any order: one of each.
	s := agevars.NewStore(path, false)
	type got struct{ ca, key, cert string }
	gots := make([]got, 12)
	var wg sync.WaitGroup
	for i := range gots {
		wg.Go(func() {
			g := &gots[i]
			var errs [3]error
			var pending [3]bool
			if i%2 == 0 {
				g.key, pending[0], errs[0] = s.Key(leaf)
			}
			g.cert, pending[1], errs[1] = s.Cert(ca, leaf, asked)
			g.ca, pending[2], errs[2] = s.CA(ca, pki.CAOptions{CN: "Consul Agent CA"})
			if i%2 == 1 {
				g.key, pending[0], errs[0] = s.Key(leaf)
			}
			for j := range errs {
				if errs[j] != nil || pending[j] {
					t.Errorf("host %d: %v %v", i, pending[j], errs[j])
				}
			}
		})
	}
	wg.Wait()
	for _, g := range gots[1:] {
		if g != gots[0] {
			t.Fatalf("hosts got different values")
		}
	}
	g := gots[0]
	roots := x509.NewCertPool()
	roots.AddCert(certOf(t, g.ca))
	c := certOf(t, g.cert)
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "server.dc1.consul", KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("the certificate does not verify: %v", err)
	}
	if r := pki.Reissue(g.cert, g.ca, g.key, asked, time.Now()); r != "" {
		t.Errorf("the certificate is not right for its key: %s", r)
	}
	// The CA was made by whichever call came first: with tls_cert first
	// it is the default name, the cn option is for a tls_ca that comes
	// first.
	if cn := certOf(t, g.ca).Subject.CommonName; cn != "runbook CA consul/ca" && cn != "Consul Agent CA" {
		t.Errorf("CA %q", cn)
	}
	after := read(t, path)
	if strings.Contains(after, "BEGIN") && !strings.Contains(after, "BEGIN AGE ENCRYPTED FILE") || strings.Contains(after, "PRIVATE KEY") || strings.Contains(after, "CERTIFICATE") {
		t.Errorf("the file holds plain text:\n%s", after)
	}
	kept := sealed(t, path)
	var names []string
	for k, v := range kept {
		if !strings.HasPrefix(v, agevars.Tag+" ") {
			t.Errorf("%s is not encrypted", k)
		}
		names = append(names, k)
	}
	if d := cmp.Diff([]string{"consul/ca/cert", "consul/ca/key", "consul/servers/consul00/cert", "consul/servers/consul00/key"}, slices.Sorted(slices.Values(names))); d != "" {
		t.Errorf("names (-want +got):\n%s", d)
	}
	if mode := fileMode(t, path); mode != 0o600 {
		t.Errorf("mode %v", mode)
	}

	// A later run, and check mode: the same, nothing written.
	for _, checkMode := range []bool{false, true} {
		s := agevars.NewStore(path, checkMode)
		caCert, p1, err1 := s.CA(ca, pki.CAOptions{CN: "Another CN: ignored once made"})
		cert, p2, err2 := s.Cert(ca, leaf, request(t, "127.0.0.1", "localhost", "server.dc1.consul"))
		k, p3, err3 := s.Key(leaf)
		if caCert != g.ca || cert != g.cert || k != g.key || p1 || p2 || p3 || err1 != nil || err2 != nil || err3 != nil || read(t, path) != after {
			t.Errorf("check %v: changed, or %v %v %v", checkMode, err1, err2, err3)
		}
	}

	// Other names asked: check mode says why it would issue anew, and a
	// run does, keeping the key and the CA byte for byte.
	more := request(t, "server.dc1.consul", "localhost", "127.0.0.1", "consul00.server.dc1.consul")
	v, pending, err := agevars.NewStore(path, true).Cert(ca, leaf, more)
	if !pending || err != nil || !strings.HasPrefix(v, "(certificate consul/servers/consul00: would be issued anew: it is for DNS:localhost, DNS:server.dc1.consul, IP:127.0.0.1, not DNS:consul00.server.dc1.consul,") || read(t, path) != after {
		t.Errorf("check mode, other names: %q %v %v", v, pending, err)
	}
	s = agevars.NewStore(path, false)
	cert, pending, err := s.Cert(ca, leaf, more)
	if err != nil || pending || cert == g.cert || pki.Reissue(cert, g.ca, g.key, more, time.Now()) != "" {
		t.Fatalf("issued anew: %v %v", pending, err)
	}
	now := sealed(t, path)
	for _, name := range []string{"consul/ca/cert", "consul/ca/key", "consul/servers/consul00/key"} {
		if now[name] != kept[name] {
			t.Errorf("%s changed", name)
		}
	}
	// One run asking one name for two sets of names is a runbook's
	// mistake (one name for every host): it would issue anew every time.
	if _, _, err := s.Cert(ca, leaf, asked); err == nil || !strings.Contains(err.Error(), `certificate "consul/servers/consul00": asked for DNS:localhost, DNS:server.dc1.consul, IP:127.0.0.1 here and for DNS:consul00.server.dc1.consul, DNS:localhost, DNS:server.dc1.consul, IP:127.0.0.1 elsewhere in this run: give each host's certificate a name of its own`) {
		t.Errorf("two sets of names in one run: %v", err)
	}
	if _, _, err := s.Cert("consul/other_ca", leaf, more); err == nil || !strings.Contains(err.Error(), `asked of CA "consul/other_ca" here and of CA "consul/ca" elsewhere in this run`) {
		t.Errorf("two CAs in one run: %v", err)
	}
}

// A certificate close to its end is issued anew; so is one for another
// key or CA than those stored.
func TestStoreReissuesExpiring(t *testing.T) {
	home(t)
	key, _ := ageKey(t)
	t.Setenv(agevars.EnvKeyFile, key)
	path := filepath.Join(t.TempDir(), "secrets.yaml")
	asked := request(t, "client.dc1.consul")
	s := agevars.NewStore(path, false)
	// The key first, as a runbook that writes it before the certificate.
	leafKey, _, err := s.Key("consul/clients/c1")
	if err != nil {
		t.Fatal(err)
	}
	first, _, err := s.Cert("consul/ca", "consul/clients/c1", asked)
	if err != nil || pki.Reissue(first, must(s.CA("consul/ca", pki.CAOptions{})), leafKey, asked, time.Now()) != "" {
		t.Fatalf("%v", err)
	}
	caCert := must(s.CA("consul/ca", pki.CAOptions{}))
	caKey := must(s.Key("consul/ca")) // the CA's key: tls_key of the CA's name

	// Put one there that ends in 10 days.
	old, err := pki.Issue(caCert, caKey, leafKey, asked, time.Now().AddDate(-1, 0, 10))
	if err != nil {
		t.Fatal(err)
	}
	f, err := agevars.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Set(nil, []string{"consul", "clients", "c1", "cert"}, old, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := agevars.WriteFile(path, out); err != nil {
		t.Fatal(err)
	}
	before := read(t, path)
	v, pending, err := agevars.NewStore(path, true).Cert("consul/ca", "consul/clients/c1", asked)
	if !pending || err != nil || !strings.Contains(v, "would be issued anew: it expires on "+certOf(t, old).NotAfter.Format(time.DateOnly)+", within 30 days") || read(t, path) != before {
		t.Errorf("check mode: %q %v %v", v, pending, err)
	}
	renewed, pending, err := agevars.NewStore(path, false).Cert("consul/ca", "consul/clients/c1", asked)
	if err != nil || pending || renewed == old || certOf(t, renewed).NotAfter.Before(time.Now().AddDate(0, 11, 0)) {
		t.Errorf("not renewed: %v %v", pending, err)
	}
}

func TestStoreCertificateErrors(t *testing.T) {
	home(t)
	key, _ := ageKey(t)
	t.Setenv(agevars.EnvKeyFile, key)
	path := filepath.Join(t.TempDir(), "secrets.yaml")
	s := agevars.NewStore(path, false)
	if _, _, err := s.Secret("tok", "hex:8"); err != nil {
		t.Fatal(err)
	}
	asked := request(t, "a.example")
	for _, tc := range []struct {
		call func() (string, bool, error)
		want string
	}{
		{func() (string, bool, error) { return s.CA("2ca", pki.CAOptions{}) }, `CA "2ca": a name is a variable name`},
		{func() (string, bool, error) { return s.Key("a//b") }, `key "a//b": a name is a variable name`},
		{func() (string, bool, error) { return s.Cert("ca", "ca", asked) }, `certificate "ca": the CA's name, not a certificate's: give the certificate a name of its own`},
		{func() (string, bool, error) { return s.Cert("tok", "x", asked) }, `tok holds one value, not a mapping of names`},
	} {
		if _, _, err := tc.call(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v, want %q", err, tc.want)
		}
	}
}

func must(s string, _ bool, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}
