// Package pki makes the certificates behind the tls_ca and tls_cert
// template functions: a self-signed CA, and leaf certificates it signs
// for servers and clients alike (what `consul tls cert create -server`
// makes), with ECDSA P-256 keys, in Go's crypto/x509: no openssl, no
// consul binary on the controller. It keeps nothing; agevars.Store keeps
// the keys and certificates in a run's secrets file.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

const (
	// CAYears and CertDays are the default validities.
	CAYears  = 5
	CertDays = 365

	// renewBefore is how long before its end a certificate is issued
	// anew, for one that lasts three times as long or more; a shorter one
	// is issued anew in the last third of its lifetime.
	renewBefore = 30 * 24 * time.Hour

	// backdate starts a certificate's validity a little in the past: a
	// host whose clock lags the controller's must not find it not valid
	// yet.
	backdate = 5 * time.Minute
)

// NewKey returns a new ECDSA P-256 private key, PEM-encoded as
// `consul tls` and openssl write it (EC PRIVATE KEY).
func NewKey() (string, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("make a key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return "", fmt.Errorf("make a key: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})), nil
}

// CAOptions are what tls_ca takes beside the CA's name. They matter only
// when the CA is made.
type CAOptions struct {
	CN   string // the subject's common name; "runbook CA NAME" by default
	Days int    // validity; CAYears by default
}

// NewCA returns a self-signed CA certificate for keyPEM, named after the
// name it is kept under unless o gives a CN. It signs leaf certificates
// only (MaxPathLen 0), valid from now for o.Days.
func NewCA(name, keyPEM string, o CAOptions, now time.Time) (string, error) {
	signer, err := parseKey(keyPEM)
	if err != nil {
		return "", err
	}
	if o.CN == "" {
		o.CN = "runbook CA " + name
	}
	end := now.AddDate(CAYears, 0, 0)
	if o.Days != 0 {
		end = now.AddDate(0, 0, o.Days)
	}
	tmpl, err := template(signer.Public(), now, end)
	if err != nil {
		return "", err
	}
	tmpl.Subject = pkix.Name{CommonName: o.CN}
	tmpl.IsCA, tmpl.MaxPathLen, tmpl.MaxPathLenZero = true, 0, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	return sign(tmpl, tmpl, signer.Public(), signer)
}

// Issue returns a certificate for the key keyPEM with r's names, for
// server and client authentication, signed by the CA caPEM whose key is
// caKeyPEM. It ends r.Days from now, or with the CA if that is sooner; a
// CA that ends within the certificate's renewal window is an error, since
// every run would issue the certificate anew.
func Issue(caPEM, caKeyPEM, keyPEM string, r Request, now time.Time) (string, error) {
	ca, err := parseCert(caPEM)
	if err != nil {
		return "", fmt.Errorf("the CA: %w", err)
	}
	if !ca.IsCA || !ca.BasicConstraintsValid || ca.KeyUsage != 0 && ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return "", fmt.Errorf("the CA: %q is not a CA certificate", ca.Subject.CommonName)
	}
	caKey, err := parseKey(caKeyPEM)
	if err != nil {
		return "", fmt.Errorf("the CA: %w", err)
	}
	if !samePublic(caKey.Public(), ca.PublicKey) {
		return "", errors.New("the CA's key is not the one its certificate is for")
	}
	signee, err := parseKey(keyPEM)
	if err != nil {
		return "", err
	}
	if len(r.DNSNames)+len(r.IPs) == 0 {
		return "", errors.New(wantName)
	}
	days := r.Days
	if days == 0 {
		days = CertDays
	}
	end := now.AddDate(0, 0, days)
	if window := renewWindow(end.Sub(now.Add(-backdate))); ca.NotAfter.Sub(now) < window {
		return "", fmt.Errorf("the CA expires on %s, within the %s before a certificate is issued anew: make a new CA", ca.NotAfter.Format(time.DateOnly), describeWindow(window))
	}
	if end.After(ca.NotAfter) {
		end = ca.NotAfter
	}
	tmpl, err := template(signee.Public(), now, end)
	if err != nil {
		return "", err
	}
	cn := ""
	if len(r.DNSNames) > 0 {
		cn = r.DNSNames[0]
	} else {
		cn = r.IPs[0].String()
	}
	tmpl.Subject = pkix.Name{CommonName: cn}
	tmpl.DNSNames, tmpl.IPAddresses = r.DNSNames, r.IPs
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	if _, ok := signee.Public().(*rsa.PublicKey); ok {
		tmpl.KeyUsage |= x509.KeyUsageKeyEncipherment
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	return sign(tmpl, ca, signee.Public(), caKey)
}

// Reissue says why the certificate certPEM must be issued anew for r by
// the CA caPEM, for the key keyPEM: "" when it need not. It must when it
// is not for the key, not signed by the CA, not for exactly r's names (in
// any order), not for server and client authentication, or ends within
// renewWindow. The validity r asks for is not compared: it applies from
// the next issue.
func Reissue(certPEM, caPEM, keyPEM string, r Request, now time.Time) string {
	c, err := parseCert(certPEM)
	if err != nil {
		return "it " + err.Error()
	}
	if k, err := parseKey(keyPEM); err != nil || !samePublic(k.Public(), c.PublicKey) {
		return "it is not for the key"
	}
	if ca, err := parseCert(caPEM); err != nil || c.CheckSignatureFrom(ca) != nil {
		return "it is not signed by the CA"
	}
	if has, want := requestOf(c).String(), r.String(); has != want {
		return fmt.Sprintf("it is for %s, not %s", has, want)
	}
	if len(c.ExtKeyUsage) != 2 || !hasUsage(c, x509.ExtKeyUsageServerAuth) || !hasUsage(c, x509.ExtKeyUsageClientAuth) {
		return "it is not for server and client authentication both"
	}
	if window := renewWindow(c.NotAfter.Sub(c.NotBefore)); c.NotAfter.Sub(now) < window {
		return fmt.Sprintf("it expires on %s, within %s", c.NotAfter.Format(time.DateOnly), describeWindow(window))
	}
	return ""
}

// renewWindow is how long before its end a certificate that lasts
// lifetime is issued anew: 30 days, or the last third of a shorter
// lifetime.
func renewWindow(lifetime time.Duration) time.Duration {
	return min(renewBefore, lifetime/3)
}

func describeWindow(w time.Duration) string {
	if w == renewBefore {
		return "30 days"
	}
	return "a third of its lifetime"
}

func hasUsage(c *x509.Certificate, u x509.ExtKeyUsage) bool {
	for _, x := range c.ExtKeyUsage {
		if x == u {
			return true
		}
	}
	return false
}

// template starts a certificate for pub: a random 128-bit serial (as
// Consul's own), its subject key ID, valid from a little before now.
func template(pub crypto.PublicKey, now, end time.Time) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("make a serial number: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("make a certificate: %w", err)
	}
	// RFC 7093's first method: 160 bits of the SHA-256 of the key.
	id := sha256.Sum256(der)
	return &x509.Certificate{
		SerialNumber:          serial,
		NotBefore:             now.Add(-backdate),
		NotAfter:              end,
		SubjectKeyId:          id[:20],
		BasicConstraintsValid: true,
	}, nil
}

func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (string, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return "", fmt.Errorf("sign a certificate: %w", err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}

func parseCert(s string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("is not a PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("is not a certificate: %w", err)
	}
	return c, nil
}

// parseKey reads a private key as openssl, Go and `consul tls` write
// them: EC PRIVATE KEY, PRIVATE KEY (PKCS #8) or RSA PRIVATE KEY.
func parseKey(s string) (crypto.Signer, error) {
	b, _ := pem.Decode([]byte(s))
	if b == nil {
		return nil, errors.New("the key is not a PEM private key")
	}
	var k any
	var err error
	switch b.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("the key is not a PEM private key: it is a %s", b.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("the key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("the key: a %T cannot sign", k)
	}
	return signer, nil
}

func samePublic(a, b crypto.PublicKey) bool {
	k, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && k.Equal(b)
}
