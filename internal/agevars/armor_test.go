package agevars_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"io"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"filippo.io/age/armor"
)

func armorReader(s string) io.Reader { return armor.NewReader(strings.NewReader(s)) }

func edKeyPair(t *testing.T) (ssh.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pk, priv
}

// rearmor decodes an armored value, changes it with fn, and armors it again.
func rearmor(t *testing.T, s string, fn func([]byte) []byte) string {
	t.Helper()
	b, err := io.ReadAll(armorReader(s))
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	w := armor.NewWriter(&out)
	w.Write(fn(b))
	w.Close()
	return out.String()
}
