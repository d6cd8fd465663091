// Package sshkeys finds a user's SSH keys where OpenSSH's client does, and
// makes Ed25519 key pairs in OpenSSH's formats.
package sshkeys

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/crypto/ssh"
)

// Defaults are the private key files used when none is given, in the
// order they are tried: ~/.ssh/id_ed25519, id_ecdsa and id_rsa (a key's
// public half is the same path with .pub). None without a home directory.
func Defaults() []string {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	var out []string
	for _, name := range []string{"id_ed25519", "id_ecdsa", "id_rsa"} {
		out = append(out, filepath.Join(home, ".ssh", name))
	}
	return out
}

// ExpandHome replaces a leading ~/ with the user's home directory, as
// OpenSSH does for key paths.
func ExpandHome(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	return p
}

// Generate writes a new private key to path (mode 0600) and its public key
// to path.pub, and returns the public key.
func Generate(path, comment string) (ssh.PublicKey, error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("write key: %w", err)
	}
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	line := ssh.MarshalAuthorizedKey(sp)
	if comment != "" {
		line = append(line[:len(line)-1], []byte(" "+comment+"\n")...)
	}
	if err := os.WriteFile(path+".pub", line, 0o644); err != nil {
		return nil, fmt.Errorf("write key: %w", err)
	}
	return sp, nil
}

// Ensure returns the key pair at path, generating it when missing.
func Ensure(path, comment string) (ssh.PublicKey, error) {
	if data, err := os.ReadFile(path + ".pub"); err == nil {
		if _, err := os.Stat(path); err == nil {
			pk, _, _, _, err := ssh.ParseAuthorizedKey(data)
			if err != nil {
				return nil, fmt.Errorf("read %s.pub: %w", path, err)
			}
			return pk, nil
		}
	}
	return Generate(path, comment)
}
