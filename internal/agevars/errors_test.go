package agevars_test

import (
	"bytes"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"golang.org/x/crypto/ssh"
)

// Every way a file can fail to open says where, which value, and what to
// do, and never quotes a value.
func TestOpenErrors(t *testing.T) {
	path, enc, pub := encrypted(t)
	other, otherPub := ageKey(t)
	edPub, err := sshkeys.Generate(filepath.Join(t.TempDir(), "id_ed25519"), "dave@box")
	if err != nil {
		t.Fatal(err)
	}
	edLine := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(edPub))) + " dave@box"
	forSSH, _, err := parse(t, path, []byte("tok: s3cr3t-token\n")).Encrypt(recipients(t, otherPub, edLine))
	if err != nil {
		t.Fatal(err)
	}
	// One base64 character of gossip_key's ciphertext changed: in its
	// payload (the line before its end), and in its header (the second
	// line: its recipient stanza).
	lines := strings.Split(string(enc), "\n")
	if !strings.HasPrefix(lines[6], "gossip_key: !encrypted") {
		t.Fatalf("line 7 is %q", lines[6])
	}
	end := 8
	for !strings.Contains(lines[end], "-----END") {
		end++
	}
	flip := func(i, at int) string { // another base64 character
		c := slices.Clone(lines)
		l := []byte(c[i])
		if l[at] == 'A' {
			l[at] = 'B'
		} else {
			l[at] = 'A'
		}
		c[i] = string(l)
		return strings.Join(c, "\n")
	}
	damaged := flip(end-1, 4)
	// The recipient stanza's share, changed within its base64.
	block := strings.Join(lines[7:end+1], "\n") + "\n"
	var unindented []string
	for _, l := range lines[7 : end+1] {
		unindented = append(unindented, strings.TrimSpace(l))
	}
	bad := rearmor(t, strings.Join(unindented, "\n")+"\n", func(b []byte) []byte {
		i := bytes.Index(b, []byte("-> X25519 ")) + len("-> X25519 ")
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return b
	})
	damagedHeader := strings.Replace(string(enc), block, indent(bad, "  ")+"\n", 1)
	short := strings.Replace(string(enc), lines[10]+"\n", "", 1)

	tests := []struct {
		name  string
		key   string // RUNBOOK_AGE_KEY_FILE
		data  string
		wants []string
	}{
		{"a value changed", "", damaged, []string{path + ":7:13: gossip_key: the encrypted value is damaged", "restore it from version control, or set it anew with `runbook secrets set " + path + " gossip_key`"}},
		{"its recipient stanza changed", "", damagedHeader, []string{path + ":7:13: gossip_key: the encrypted value is damaged", "yet the file's header says it is for one of them"}},
		{"a line of a value lost", "", short, []string{path + ":7:13: gossip_key: the encrypted value is damaged"}},
		{"not armored", "", "tok: !encrypted abc\n", []string{path + ":1:6: tok: the encrypted value is damaged"}},
		{"not for this key", other, string(enc), []string{path + ":7:13: gossip_key: cannot decrypt: it is not encrypted for any of your keys (" + agevars.EnvKeyFile + "=" + other + "); it is for " + pub + ". Have one of them add yours: `runbook secrets rekey " + path + " --add YOUR-PUBLIC-KEY`"}},
		{"for an SSH key, by its fingerprint", "", string(forSSH), []string{"it is for " + otherPub + ", ssh-ed25519 " + ssh.FingerprintSHA256(edPub) + " (dave@box)"}},
		{"a key file that is not there", "/nonexistent/age.key", string(enc), []string{path + ":7:13: gossip_key: cannot decrypt: read the age key RUNBOOK_AGE_KEY_FILE=/nonexistent/age.key: open /nonexistent/age.key: no such file or directory"}},
		{"on a mapping", "", "creds: !encrypted {a: b}\n", []string{path + ":1:8: !encrypted marks one value encrypted with age"}},
		{"a bad header", "", "runbook_encrypted: {recipients: [age1nope], keys: 1}\n", []string{path + ":1:45: runbook_encrypted: unknown key \"keys\""}},
		{"a bad recipient", "", "runbook_encrypted: {recipients: [age1nope]}\n", []string{path + ":1:34: runbook_encrypted: recipient \"age1nope\" is not an age public key"}},
		{"a private key as a recipient", "", "runbook_encrypted: {recipients: [AGE-SECRET-KEY-1QQQ]}\n", []string{"that is an age private key"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.key != "" {
				t.Setenv(agevars.EnvKeyFile, tc.key)
			}
			_, _, err := load(t, path, []byte(tc.data))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("got  %v\nwant %s", err, w)
				}
			}
			for _, secret := range []string{"c2VjcmV0LWdvc3NpcC1rZXk=", "s3cr3t-token", "QQQ"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows %q: %v", secret, err)
				}
			}
			// Told once for the file, not once per value.
			if strings.Count(err.Error(), "cannot decrypt") > 1 {
				t.Errorf("told more than once: %v", err)
			}
		})
	}
}

// No key at all, and an SSH key with a passphrase: runbook never prompts.
func TestOpenWithoutAUsableKey(t *testing.T) {
	h := home(t)
	_, pub := ageKey(t)
	path := filepath.Join(t.TempDir(), "s.yaml")
	enc, _, err := parse(t, path, []byte("tok: s3cr3t-token\n")).Encrypt(recipients(t, pub))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = load(t, path, enc)
	if err == nil || !strings.Contains(err.Error(), path+":4:6: tok: cannot decrypt: no age or SSH private key found (looked for "+filepath.Join(h, ".config", "runbook", "age.key")+"): make one with `runbook secrets init`") {
		t.Errorf("no key: %v", err)
	}

	// An ed25519 key with a passphrase in ~/.ssh that the value is for.
	if err := os.MkdirAll(filepath.Join(h, ".ssh"), 0o700); err != nil {
		t.Fatal(err)
	}
	pk, priv := edKeyPair(t)
	block, err := ssh.MarshalPrivateKeyWithPassphrase(priv, "", []byte("pass"))
	if err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(h, ".ssh", "id_ed25519")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(pk)))
	enc, _, err = parse(t, path, []byte("tok: s3cr3t-token\n")).Encrypt(recipients(t, line))
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = load(t, path, enc)
	if err == nil || !strings.Contains(err.Error(), "tok: cannot decrypt: encrypted for a passphrase-protected SSH key ("+keyPath+"), and runbook never asks for a passphrase: make an age key (`runbook secrets init`)") {
		t.Errorf("a locked key: %v", err)
	}
	// The same locked key is no obstacle to a value for another key.
	key, pub2 := ageKey(t)
	t.Setenv(agevars.EnvKeyFile, "")
	os.MkdirAll(filepath.Join(h, ".config", "runbook"), 0o700)
	data, _ := os.ReadFile(key)
	os.WriteFile(filepath.Join(h, ".config", "runbook", "age.key"), data, 0o600)
	enc, _, _ = parse(t, path, []byte("tok: s3cr3t-token\n")).Encrypt(recipients(t, pub2))
	if vals, _, err := load(t, path, enc); err != nil || vals["tok"] != "s3cr3t-token" {
		t.Errorf("with a locked SSH key beside the age key: %v %v", vals, err)
	}
}
