package agevars_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"golang.org/x/crypto/ssh"
	"gopkg.in/yaml.v3"
)

// home gives the test a home directory of its own, with no keys in it and
// RUNBOOK_AGE_KEY_FILE unset.
func home(t *testing.T) string {
	t.Helper()
	h := t.TempDir()
	t.Setenv("HOME", h)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv(agevars.EnvKeyFile, "")
	return h
}

// ageKey makes an age key file and returns its path and public key.
func ageKey(t *testing.T) (string, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "age.key")
	pub, err := agevars.Init(p)
	if err != nil {
		t.Fatal(err)
	}
	return p, pub
}

func ids(t *testing.T) *agevars.Identities {
	t.Helper()
	ids, err := agevars.LoadIdentities()
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func recipients(t *testing.T, keys ...string) []*agevars.Recipient {
	t.Helper()
	var out []*agevars.Recipient
	for _, k := range keys {
		r, err := agevars.ParseRecipient(k)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func parse(t *testing.T, path string, data []byte) *agevars.File {
	t.Helper()
	f, err := agevars.Parse(path, data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// load reads data as a vars file is loaded for a run, and returns its
// values and which are secret.
func load(t *testing.T, path string, data []byte) (map[string]any, map[string]bool, error) {
	t.Helper()
	doc, err := decode.ParseAllowing(path, data, agevars.Tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := agevars.Open(path, doc); err != nil {
		return nil, nil, err
	}
	vals, secret := map[string]any{}, map[string]bool{}
	top := doc.Content[0]
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i].Value, top.Content[i+1]
		secret[k] = v.Tag == "!secret"
		c := *v
		if c.Tag == "!secret" {
			c.Tag = ""
			if c.Kind == yaml.ScalarNode {
				c.Tag = "!!str"
			}
		}
		var x any
		if err := c.Decode(&x); err != nil {
			t.Fatal(err)
		}
		vals[k] = x
	}
	return vals, secret, nil
}

const plainFile = `# Secrets of the consul role.

# the gossip key
gossip_key: "c2VjcmV0LWdvc3NpcC1rZXk="
port: 8500 # not secret
enabled: true
ca_key: |
  -----BEGIN PRIVATE KEY-----
  MC4CAQAwBQYDK2VwBCIEIJ+abc
  -----END PRIVATE KEY-----

acl:
  bootstrap: "b00t-str4p-t0ken"
  ttl: 30
tokens: [alpha-token, beta-token]
pin: !secret 1234
empty:
# the end
`

func TestEncryptRoundTrip(t *testing.T) {
	home(t)
	key, pub := ageKey(t)
	t.Setenv(agevars.EnvKeyFile, key)
	path := filepath.Join(t.TempDir(), "secrets.yaml")
	f := parse(t, path, []byte(plainFile))
	enc, n, err := f.Encrypt(recipients(t, pub))
	if err != nil {
		t.Fatal(err)
	}
	if n != 5 {
		t.Errorf("%d names changed, want 5 (gossip_key, ca_key, acl, tokens, pin)\n%s", n, enc)
	}
	text := string(enc)
	for _, plain := range []string{"c2VjcmV0LWdvc3NpcC1rZXk=", "MC4CAQAwBQYDK2VwBCIEIJ+abc", "b00t-str4p-t0ken", "alpha-token", "1234"} {
		if strings.Contains(text, plain) {
			t.Errorf("the encrypted file holds %q:\n%s", plain, text)
		}
	}
	for _, kept := range []string{"# Secrets of the consul role.\n\n", "# the gossip key\ngossip_key: !encrypted |\n  -----BEGIN AGE ENCRYPTED FILE-----\n", "port: 8500 # not secret\nenabled: true\n", "  ttl: 30\n", "\n# the end\n", "runbook_encrypted:\n  recipients:\n    - " + pub + "\n"} {
		if !strings.Contains(text, kept) {
			t.Errorf("the encrypted file lacks %q:\n%s", kept, text)
		}
	}
	// Loaded for a run: the plaintext, secret; the rest as it was.
	vals, secret, err := load(t, path, enc)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"gossip_key": "c2VjcmV0LWdvc3NpcC1rZXk=", "port": 8500, "enabled": true,
		"ca_key": "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+abc\n-----END PRIVATE KEY-----\n",
		"acl":    map[string]any{"bootstrap": "b00t-str4p-t0ken", "ttl": 30}, "tokens": []any{"alpha-token", "beta-token"},
		"pin": "1234", "empty": nil,
	}
	if d := cmp.Diff(want, vals); d != "" {
		t.Errorf("loaded values (-want +got):\n%s", d)
	}
	wantSecret := map[string]bool{"gossip_key": true, "ca_key": true, "acl": true, "tokens": true, "pin": true}
	for k := range want {
		if secret[k] != wantSecret[k] {
			t.Errorf("%s: secret %v, want %v", k, secret[k], wantSecret[k])
		}
	}
	// Encrypting again changes nothing.
	again, n, err := parse(t, path, enc).Encrypt(nil)
	if err != nil || n != 0 || string(again) != text {
		t.Errorf("encrypting twice: %d changed, %v\n%s", n, err, again)
	}
	// Decrypted, it reads as the plain file did, secrets tagged !secret,
	// and encrypting that gives the same values.
	plain, err := parse(t, path, enc).Plain(ids(t))
	if err != nil {
		t.Fatal(err)
	}
	pvals, psecret, err := load(t, path, plain)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, pvals); d != "" {
		t.Errorf("decrypted values (-want +got):\n%s\n%s", d, plain)
	}
	if d := cmp.Diff(secret, psecret); d != "" {
		t.Errorf("decrypted secrets (-want +got):\n%s", d)
	}
	if !strings.Contains(string(plain), "gossip_key: !secret c2VjcmV0LWdvc3NpcC1rZXk=\n") || !strings.Contains(string(plain), "port: 8500 # not secret\n") {
		t.Errorf("decrypted:\n%s", plain)
	}
}

// Values age itself can open: armored as `age -a` writes them.
func TestValuesAreAgeFiles(t *testing.T) {
	home(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	f := parse(t, "s.yaml", []byte("tok: s3cr3t-token\n"))
	enc, _, err := f.Encrypt(recipients(t, id.Recipient().String()))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := yaml.Unmarshal(enc, &doc); err != nil {
		t.Fatal(err)
	}
	var v struct {
		Tok yaml.Node `yaml:"tok"`
	}
	yaml.Unmarshal(enc, &v)
	if v.Tok.Tag != "!encrypted" {
		t.Fatalf("tag %q", v.Tok.Tag)
	}
	r, err := age.Decrypt(armorReader(v.Tok.Value), id)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 64)
	n, _ := r.Read(got)
	if string(got[:n]) != "s3cr3t-token" {
		t.Errorf("age opened %q", got[:n])
	}
}

func TestSSHRecipientsAndIdentities(t *testing.T) {
	h := home(t)
	if err := os.MkdirAll(filepath.Join(h, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	edPub, err := sshkeys.Generate(filepath.Join(h, ".ssh", "id_ed25519"), "alice@laptop")
	if err != nil {
		t.Fatal(err)
	}
	rsaPub := rsaKey(t, filepath.Join(t.TempDir(), "id_rsa"))
	ed := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(edPub))) + " alice@laptop"
	f := parse(t, "s.yaml", []byte("tok: s3cr3t-token\n"))
	enc, _, err := f.Encrypt(recipients(t, ed, rsaPub))
	if err != nil {
		t.Fatal(err)
	}
	// ~/.ssh/id_ed25519 opens it.
	vals, _, err := load(t, "s.yaml", enc)
	if err != nil || vals["tok"] != "s3cr3t-token" {
		t.Fatalf("with id_ed25519: %v %v", vals, err)
	}
	// So does the RSA key, through RUNBOOK_AGE_KEY_FILE (alone: the
	// ed25519 key is not tried).
	t.Setenv(agevars.EnvKeyFile, rsaPriv)
	vals, _, err = load(t, "s.yaml", enc)
	if err != nil || vals["tok"] != "s3cr3t-token" {
		t.Fatalf("with the RSA key: %v %v", vals, err)
	}
}

var rsaPriv string

// rsaKey writes an RSA private key to path and returns its public key.
func rsaKey(t *testing.T, path string) string {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(k, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	rsaPriv = path
	pk, err := ssh.NewPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk))) + " bob@desk"
}

func TestInitRefusesToOverwrite(t *testing.T) {
	home(t)
	p := filepath.Join(t.TempDir(), "cfg", "runbook", "age.key")
	pub, err := agevars.Init(p)
	if err != nil || !strings.HasPrefix(pub, "age1") {
		t.Fatalf("%q %v", pub, err)
	}
	for path, want := range map[string]os.FileMode{p: 0o600, filepath.Dir(p): 0o700} {
		if info, err := os.Stat(path); err != nil || info.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v (%v)", path, info.Mode().Perm(), want, err)
		}
	}
	before, _ := os.ReadFile(p)
	if _, err := agevars.Init(p); !errors.Is(err, agevars.ErrKeyExists) {
		t.Errorf("a second init: %v", err)
	}
	if after, _ := os.ReadFile(p); string(after) != string(before) {
		t.Error("the key was changed")
	}
	if got, err := agevars.PublicKey(p); got != pub || err != nil {
		t.Errorf("public key %q %v, want %q", got, err, pub)
	}
}

func TestWriteFileIsPrivateAndAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.yaml")
	if err := os.WriteFile(p, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := agevars.WriteFile(p, []byte("new\n")); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(p)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v %v", info.Mode().Perm(), err)
	}
	if got, _ := os.ReadFile(p); string(got) != "new\n" {
		t.Errorf("content %q", got)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}
