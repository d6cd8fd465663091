package consul_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/consultest"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

func ecKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
}

func caRB(addr, keyPEM string) string {
	return fmt.Sprintf(`steps:
  - {name: ca, hosts: h1, task: consul_connect_ca, with: {agent: %s, private_key: %q, timeout: 30s}, register: ca}
  - {name: roots, hosts: h1, task: debug, with: {msg: "old={{ .ca.old_root }} new={{ .ca.new_root }} root={{ .ca.root }}"}}
`, addr, keyPEM)
}

// activeRoot reads the active root as the servers see it.
func activeRoot(t *testing.T, c *api.Client) (string, *x509.Certificate) {
	t.Helper()
	roots, _, err := c.Connect().CARoots(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range roots.Roots {
		if r.ID == roots.ActiveRootID {
			block, _ := pem.Decode([]byte(r.RootCertPEM))
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			return r.ID, cert
		}
	}
	t.Fatalf("no active root in %+v", roots)
	return "", nil
}

// leafIssuer says which key signed the service's leaf certificate.
func leafSignedBy(t *testing.T, c *api.Client, service string, root *x509.Certificate) bool {
	t.Helper()
	leaf, _, err := c.Agent().ConnectCALeaf(service, nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode([]byte(leaf.CertPEM))
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert.CheckSignatureFrom(root) == nil
}

func TestConnectCATimeline(t *testing.T) {
	agent := consultest.Start(t)
	env := tasktest.New(t)
	err := agent.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{Name: "fcs", Port: 8181,
		Connect: &api.AgentServiceConnect{SidecarService: &api.AgentServiceRegistration{}}})
	if err != nil {
		t.Fatal(err)
	}
	oldID, oldRoot := activeRoot(t, agent.Client)
	if !leafSignedBy(t, agent.Client, "fcs", oldRoot) {
		t.Fatal("the first leaf is not signed by the first root")
	}
	before, _, err := agent.Client.Connect().CAGetConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	key, keyPEM := ecKey(t)
	rb := caRB(agent.Addr, keyPEM)

	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "ca") != "~ rotate the Connect CA root to a new key (root "+oldID+" -> new)" {
		t.Fatalf("first check: %s", r)
	}
	if id, _ := activeRoot(t, agent.Client); id != oldID {
		t.Fatalf("check mode rotated the root: %s -> %s", oldID, id)
	}
	leaks(t, r, keyPEM, pemBody(keyPEM))

	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("ca").Status != engine.Changed {
		t.Fatalf("apply: %s", r)
	}
	leaks(t, r, keyPEM, pemBody(keyPEM))
	newID, newRoot := activeRoot(t, agent.Client)
	if newID == oldID || !key.PublicKey.Equal(newRoot.PublicKey) {
		t.Fatalf("after the apply the active root is %s (was %s), its key the runbook's: %t", newID, oldID, key.PublicKey.Equal(newRoot.PublicKey))
	}
	if msg := r.Result("roots").Message; msg != fmt.Sprintf("old=%s new=%s root=%s", oldID, newID, newID) {
		t.Fatalf("registered: %q", msg)
	}
	// The apply waited for it: the agent hands out a leaf of the new root.
	if !leafSignedBy(t, agent.Client, "fcs", newRoot) {
		t.Fatal("fcs's leaf is not signed by the new root")
	}
	after, _, err := agent.Client.Connect().CAGetConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if after.Provider != "consul" || after.Config["LeafCertTTL"] != before.Config["LeafCertTTL"] {
		t.Fatalf("the CA configuration's other settings: %+v, were %+v", after.Config["LeafCertTTL"], before.Config["LeafCertTTL"])
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK || r.Result("ca").Status != engine.OK {
		t.Fatalf("second check: %s", r)
	}

	// Another key rotates again, the previous root cross-signing.
	key2, keyPEM2 := ecKey(t)
	rb2 := caRB(agent.Addr, keyPEM2)
	if r = env.Apply(rb2, "--check"); r.Exit != tasktest.ExitDrift || changes(r, "ca") != "~ rotate the Connect CA root to a new key (root "+newID+" -> new)" {
		t.Fatalf("check with a second key: %s", r)
	}
	if r = env.Apply(rb2); r.Exit != tasktest.ExitOK {
		t.Fatalf("second rotation: %s", r)
	}
	thirdID, thirdRoot := activeRoot(t, agent.Client)
	if thirdID == newID || !key2.PublicKey.Equal(thirdRoot.PublicKey) || !leafSignedBy(t, agent.Client, "fcs", thirdRoot) {
		t.Fatalf("after the second rotation: root %s (was %s)", thirdID, newID)
	}
	if r = env.Apply(rb2, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after the second rotation: %s", r)
	}
	leaks(t, r, keyPEM2, pemBody(keyPEM2))
}

// pemBody is a key's base64 without its armour, as it might leak.
func pemBody(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(lines[1:len(lines)-1], "")[:40]
}

func TestConnectCAValidate(t *testing.T) {
	env := tasktest.New(t)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(p384)
	if err != nil {
		t.Fatal(err)
	}
	p384PEM := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	const garbage = "hunter2-not-a-key-but-secret"
	for _, tc := range []struct{ name, key, why string }{
		{"garbage", garbage, ": no PEM block"},
		{"rsa", rsaPEM, ": got a RSA PRIVATE KEY block"},
		{"p384", p384PEM, ": got curve P-384"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := env.Apply(caRB("127.0.0.1:1", tc.key), "--check")
			want := "private_key must be a PEM ECDSA P-256 private key (EC PRIVATE KEY or PRIVATE KEY; not shown: it is a secret)" + tc.why
			if r.Exit != tasktest.ExitError || !strings.Contains(r.String(), want) {
				t.Fatalf("want %s\n%s", want, r)
			}
			leaks(t, r, strings.TrimSpace(tc.key))
			if tc.name != "garbage" {
				leaks(t, r, pemBody(tc.key))
			}
		})
	}
}
