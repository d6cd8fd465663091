package pki_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/pki"
	"github.com/runbookdev/runbook/internal/secret"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func parseCert(t *testing.T, s string) *x509.Certificate {
	t.Helper()
	b, rest := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		t.Fatalf("not one PEM certificate: %q", s)
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func key(t *testing.T) string {
	t.Helper()
	k, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ca(t *testing.T, name string, o pki.CAOptions, at time.Time) (cert, key string) {
	t.Helper()
	k, err := pki.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	c, err := pki.NewCA(name, k, o, at)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}

func TestNewKeyIsP256(t *testing.T) {
	k := key(t)
	b, _ := pem.Decode([]byte(k))
	if b == nil || b.Type != "EC PRIVATE KEY" {
		t.Fatalf("%.40q", k)
	}
	priv, err := x509.ParseECPrivateKey(b.Bytes)
	if err != nil || priv.Curve != elliptic.P256() {
		t.Fatalf("%v %v", err, priv)
	}
	if key(t) == k {
		t.Error("two keys are the same")
	}
}

func TestNewCA(t *testing.T) {
	certPEM, keyPEM := ca(t, "consul/ca", pki.CAOptions{}, now)
	c := parseCert(t, certPEM)
	want := struct {
		CN          string
		IsCA        bool
		MaxPathLen  int
		Zero        bool
		KeyUsage    x509.KeyUsage
		NotBefore   time.Time
		NotAfter    time.Time
		Curve       string
		SerialFits  bool
		HasSubjKey  bool
		SelfSigned  bool
		SameKeyPair bool
	}{"runbook CA consul/ca", true, 0, true, x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		now.Add(-5 * time.Minute), now.AddDate(5, 0, 0), "P-256", true, true, true, true}
	got := want
	got.CN, got.IsCA, got.MaxPathLen, got.Zero, got.KeyUsage = c.Subject.CommonName, c.IsCA && c.BasicConstraintsValid, c.MaxPathLen, c.MaxPathLenZero, c.KeyUsage
	got.NotBefore, got.NotAfter = c.NotBefore, c.NotAfter
	pub, _ := c.PublicKey.(*ecdsa.PublicKey)
	if pub != nil {
		got.Curve = pub.Curve.Params().Name
	}
	got.SerialFits = c.SerialNumber.Sign() > 0 && c.SerialNumber.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)) < 0
	got.HasSubjKey = len(c.SubjectKeyId) > 0
	got.SelfSigned = c.CheckSignatureFrom(c) == nil
	b, _ := pem.Decode([]byte(keyPEM))
	priv, _ := x509.ParseECPrivateKey(b.Bytes)
	got.SameKeyPair = priv != nil && priv.PublicKey.Equal(c.PublicKey)
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("CA (-want +got):\n%s", d)
	}

	c = parseCert(t, must(pki.NewCA("x", keyPEM, pki.CAOptions{CN: "Consul Agent CA", Days: 30}, now)))
	if c.Subject.CommonName != "Consul Agent CA" || !c.NotAfter.Equal(now.AddDate(0, 0, 30)) {
		t.Errorf("cn and days: %q %v", c.Subject.CommonName, c.NotAfter)
	}
	if _, err := pki.NewCA("x", "not a key", pki.CAOptions{}, now); err == nil || !strings.Contains(err.Error(), "not a PEM private key") {
		t.Errorf("a bad key: %v", err)
	}
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

// A leaf verifies against its CA for each name asked, for both server and
// client authentication, as `consul tls cert create -server` makes it.
func TestIssueVerifies(t *testing.T) {
	caCert, caKey := ca(t, "consul/ca", pki.CAOptions{}, now)
	leafKey := key(t)
	req, err := pki.ParseRequest([]string{"server.dc1.consul", "localhost", "127.0.0.1", "consul00.server.dc1.consul", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, err := pki.Issue(caCert, caKey, leafKey, req, now)
	if err != nil {
		t.Fatal(err)
	}
	c := parseCert(t, certPEM)
	roots := x509.NewCertPool()
	roots.AddCert(parseCert(t, caCert))
	for _, name := range []string{"server.dc1.consul", "localhost", "consul00.server.dc1.consul", "127.0.0.1", "::1"} {
		for _, use := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: name, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{use}}); err != nil {
				t.Errorf("%s, usage %v: %v", name, use, err)
			}
		}
	}
	if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "server.dc2.consul", CurrentTime: now}); err == nil {
		t.Error("verifies for a name not asked")
	}
	other, _ := ca(t, "other", pki.CAOptions{}, now)
	otherRoots := x509.NewCertPool()
	otherRoots.AddCert(parseCert(t, other))
	if _, err := c.Verify(x509.VerifyOptions{Roots: otherRoots, DNSName: "localhost", CurrentTime: now}); err == nil {
		t.Error("verifies against another CA")
	}
	b, _ := pem.Decode([]byte(leafKey))
	priv, _ := x509.ParseECPrivateKey(b.Bytes)
	if c.Subject.CommonName != "server.dc1.consul" || c.IsCA || !priv.PublicKey.Equal(c.PublicKey) ||
		!c.NotAfter.Equal(now.AddDate(1, 0, 0)) || len(c.SubjectKeyId) == 0 || c.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("leaf: CN %q, CA %v, until %v, key usage %v", c.Subject.CommonName, c.IsCA, c.NotAfter, c.KeyUsage)
	}
	if d := cmp.Diff([]x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, c.ExtKeyUsage); d != "" {
		t.Errorf("ext key usage (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"server.dc1.consul", "localhost", "consul00.server.dc1.consul"}, c.DNSNames); d != "" {
		t.Errorf("DNS names (-want +got):\n%s", d)
	}
	if len(c.IPAddresses) != 2 || !c.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !c.IPAddresses[1].Equal(net.ParseIP("::1")) {
		t.Errorf("IPs %v", c.IPAddresses)
	}

	// A leaf never outlives its CA; one that would end within its renewal
	// window is refused rather than re-issued on every run.
	shortCA, shortKey := ca(t, "short", pki.CAOptions{Days: 200}, now)
	c = parseCert(t, must(pki.Issue(shortCA, shortKey, leafKey, req, now)))
	if !c.NotAfter.Equal(parseCert(t, shortCA).NotAfter) {
		t.Errorf("leaf until %v, its CA until %v", c.NotAfter, parseCert(t, shortCA).NotAfter)
	}
	if _, err := pki.Issue(shortCA, shortKey, leafKey, req, now.AddDate(0, 0, 180)); err == nil || !strings.Contains(err.Error(), "the CA expires on 2026-09-17") {
		t.Errorf("a CA about to expire: %v", err)
	}
	if _, err := pki.Issue(caCert, shortKey, leafKey, req, now); err == nil || !strings.Contains(err.Error(), "the CA's key is not the one its certificate is for") {
		t.Errorf("a CA key of another CA: %v", err)
	}
	if _, err := pki.Issue(certPEM, leafKey, leafKey, req, now); err == nil || !strings.Contains(err.Error(), "not a CA certificate") {
		t.Errorf("a leaf as CA: %v", err)
	}
}

func TestReissue(t *testing.T) {
	caCert, caKey := ca(t, "consul/ca", pki.CAOptions{}, now)
	otherCA, otherKey := ca(t, "other", pki.CAOptions{}, now)
	leafKey, otherLeafKey := key(t), key(t)
	req := func(args ...string) pki.Request {
		r, err := pki.ParseRequest(args)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	asked := req("server.dc1.consul", "localhost", "127.0.0.1")
	cert := must(pki.Issue(caCert, caKey, leafKey, asked, now))
	short := must(pki.Issue(caCert, caKey, leafKey, req("server.dc1.consul", "localhost", "127.0.0.1", "days=9"), now))
	for _, tc := range []struct {
		name       string
		cert, key  string
		ca         string
		req        pki.Request
		at         time.Time
		wantReason string // "" keeps the certificate
	}{
		{"the same", cert, leafKey, caCert, asked, now, ""},
		{"names in another order", cert, leafKey, caCert, req("127.0.0.1", "localhost", "server.dc1.consul"), now, ""},
		{"names repeated, another case", cert, leafKey, caCert, req("Server.dc1.consul", "localhost", "localhost", "127.0.0.1"), now, ""},
		{"another validity asked: kept till its renewal", cert, leafKey, caCert, req("server.dc1.consul", "localhost", "127.0.0.1", "days=30"), now, ""},
		{"a name more", cert, leafKey, caCert, req("server.dc1.consul", "localhost", "127.0.0.1", "consul00.server.dc1.consul"), now,
			"it is for DNS:localhost, DNS:server.dc1.consul, IP:127.0.0.1, not DNS:consul00.server.dc1.consul, DNS:localhost, DNS:server.dc1.consul, IP:127.0.0.1"},
		{"an IP fewer", cert, leafKey, caCert, req("server.dc1.consul", "localhost"), now,
			"it is for DNS:localhost, DNS:server.dc1.consul, IP:127.0.0.1, not DNS:localhost, DNS:server.dc1.consul"},
		{"another CA", cert, leafKey, otherCA, asked, now, "it is not signed by the CA"},
		{"another key", cert, otherLeafKey, caCert, asked, now, "it is not for the key"},
		{"31 days left", cert, leafKey, caCert, asked, now.AddDate(1, 0, -31), ""},
		{"29 days left", cert, leafKey, caCert, asked, now.AddDate(1, 0, -29), "it expires on 2027-03-01, within 30 days"},
		{"expired", cert, leafKey, caCert, asked, now.AddDate(2, 0, 0), "it expires on 2027-03-01, within 30 days"},
		{"short-lived, 4 of 9 days left", short, leafKey, caCert, asked, now.AddDate(0, 0, 5), ""},
		{"short-lived, 2 of 9 days left", short, leafKey, caCert, asked, now.AddDate(0, 0, 7), "it expires on 2026-03-10, within a third of its lifetime"},
		{"not a certificate", "garbage", leafKey, caCert, asked, now, "it is not a PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pki.Reissue(tc.cert, tc.ca, tc.key, tc.req, tc.at)
			if tc.wantReason == "" && got != "" || !strings.HasPrefix(got, tc.wantReason) {
				t.Errorf("reason %q, want %q", got, tc.wantReason)
			}
		})
	}
	// What Reissue finds wrong, Issue makes right.
	fresh := must(pki.Issue(otherCA, otherKey, otherLeafKey, req("a.example", "10.0.0.1"), now))
	if r := pki.Reissue(fresh, otherCA, otherLeafKey, req("10.0.0.1", "a.example"), now); r != "" {
		t.Errorf("a fresh certificate: %s", r)
	}
}

func TestParseArgs(t *testing.T) {
	r, err := pki.ParseRequest([]string{"b.example", "A.example", "10.0.0.2", "*.svc.example", "days=90"})
	if err != nil || r.Days != 90 || r.String() != "DNS:*.svc.example, DNS:a.example, DNS:b.example, IP:10.0.0.2" {
		t.Errorf("%v %+v %s", err, r, r)
	}
	if r, _ := pki.ParseRequest([]string{"x.example"}); r.Days != 365 {
		t.Errorf("default days %d", r.Days)
	}
	o, err := pki.ParseCAOptions([]string{"cn=Consul Agent CA", "days=3650"})
	if err != nil || o != (pki.CAOptions{CN: "Consul Agent CA", Days: 3650}) {
		t.Errorf("%v %+v", err, o)
	}
	for _, tc := range []struct {
		ca   bool
		args []string
		want string
	}{
		{false, nil, "want at least one DNS name or IP address"},
		{false, []string{"days=90"}, "want at least one DNS name or IP address"},
		{false, []string{"a b.example"}, `"a b.example" is neither a DNS name nor an IP address`},
		{false, []string{"a..example"}, `"a..example" is neither`},
		{false, []string{"x.example", "days=0"}, `"days=0": want a number of days from 1 to 36500`},
		{false, []string{"x.example", "cn=x"}, `"cn=x": a certificate takes days=N`},
		{true, []string{"days=x"}, `"days=x": want a number of days`},
		{true, []string{"cn="}, `"cn=": want a name after cn=`},
		{true, []string{"Consul CA"}, `"Consul CA": a CA takes cn=NAME and days=N`},
	} {
		var err error
		if tc.ca {
			_, err = pki.ParseCAOptions(tc.args)
		} else {
			_, err = pki.ParseRequest(tc.args)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// The key is masked and the certificate for it is not, though both hold
// its public key: no line of the certificate is a line of the key.
func TestKeyMaskedCertNot(t *testing.T) {
	caCert, caKey := ca(t, "consul/ca", pki.CAOptions{}, now)
	req, _ := pki.ParseRequest([]string{"server.dc1.consul", "localhost", "127.0.0.1"})
	for range 50 {
		var set secret.Set
		k := key(t)
		set.Add(k)
		cert := must(pki.Issue(caCert, caKey, k, req, now))
		if set.Holds(cert) || set.Holds(caCert) || set.Redact(k) != secret.Mask {
			t.Fatalf("masked %q, %q, %q", set.Redact(cert), set.Redact(caCert), set.Redact(k))
		}
	}
}
