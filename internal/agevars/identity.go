package agevars

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"golang.org/x/crypto/ssh"
)

// EnvKeyFile names the file of the age key (or SSH private key) that
// opens encrypted values, when not the default.
const EnvKeyFile = "RUNBOOK_AGE_KEY_FILE"

// DefaultKeyFile is where `runbook secrets init` makes the user's age key
// and where it is looked for: ~/.config/runbook/age.key (under
// $XDG_CONFIG_HOME when set).
func DefaultKeyFile() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("find the age key: %w", err)
	}
	return filepath.Join(dir, "runbook", "age.key"), nil
}

// KeyFile is the age key file runbook uses: $RUNBOOK_AGE_KEY_FILE when
// set, else DefaultKeyFile.
func KeyFile() (string, error) {
	if p := os.Getenv(EnvKeyFile); p != "" {
		return p, nil
	}
	return DefaultKeyFile()
}

// Identities are the private keys that open encrypted values on this
// controller.
type Identities struct {
	ids   []age.Identity
	tried []string        // where keys were looked for, for messages
	own   []age.Recipient // the age keys' public halves
	pubs  []*Recipient    // every key's public half, SSH keys too
	// locked is set to the path of a passphrase-protected SSH key that a
	// value was encrypted to: runbook never prompts for a passphrase.
	locked string
}

// LoadIdentities finds the user's keys: the file $RUNBOOK_AGE_KEY_FILE
// names, alone, when it is set; else ~/.config/runbook/age.key and the SSH
// private keys ~/.ssh/id_ed25519 and ~/.ssh/id_rsa, those that exist.
func LoadIdentities() (*Identities, error) {
	ids := &Identities{}
	if p := os.Getenv(EnvKeyFile); p != "" {
		ids.tried = append(ids.tried, EnvKeyFile+"="+p)
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read the age key %s=%s: %w", EnvKeyFile, p, err)
		}
		if err := ids.add(p, data); err != nil {
			return nil, err
		}
		return ids, nil
	}
	def, err := DefaultKeyFile()
	if err == nil {
		ids.tried = append(ids.tried, def)
		switch data, err := os.ReadFile(def); {
		case err == nil:
			if err := ids.add(def, data); err != nil {
				return nil, err
			}
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("read the age key %s: %w", def, err)
		}
	}
	for _, p := range sshkeys.Defaults() {
		if strings.HasSuffix(p, "id_ecdsa") {
			continue // age has no ECDSA recipients
		}
		data, err := os.ReadFile(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		ids.tried = append(ids.tried, p)
		if err != nil {
			return nil, fmt.Errorf("read SSH key %s: %w", p, err)
		}
		if err := ids.add(p, data); err != nil {
			return nil, err
		}
	}
	return ids, nil
}

// add reads a key file: age identities (AGE-SECRET-KEY-1... lines, as
// age-keygen writes them) or an SSH private key.
func (ids *Identities) add(path string, data []byte) error {
	if !bytes.Contains(data, []byte("-----BEGIN")) {
		found, err := age.ParseIdentities(bytes.NewReader(data))
		if err != nil {
			// age's message never quotes the key.
			return fmt.Errorf("read the age key %s: %w", path, err)
		}
		ids.ids = append(ids.ids, found...)
		for _, id := range found {
			switch k := id.(type) {
			case *age.X25519Identity:
				ids.own = append(ids.own, k.Recipient())
				ids.pubs = append(ids.pubs, &Recipient{Text: k.Recipient().String()})
			case *age.HybridIdentity:
				ids.own = append(ids.own, k.Recipient())
			}
		}
		return nil
	}
	id, err := agessh.ParseIdentity(data)
	var missing *ssh.PassphraseMissingError
	switch {
	case errors.As(err, &missing):
		pub := missing.PublicKey
		if pub == nil {
			pub = readPublicKey(path + ".pub")
		}
		if pub == nil {
			return nil // nothing says whom it opens for: skip it
		}
		ids.pubs = append(ids.pubs, &Recipient{ssh: pub})
		locked, err := agessh.NewEncryptedSSHIdentity(pub, data, func() ([]byte, error) {
			ids.locked = path
			return nil, errors.New("runbook does not ask for passphrases")
		})
		if err != nil {
			return nil // a key type age cannot use
		}
		ids.ids = append(ids.ids, locked)
	case err != nil:
		// An SSH key of a type age cannot use (ECDSA, a security key):
		// it opens nothing, and the message for a value it cannot open
		// lists what was tried.
		return nil
	default:
		ids.ids = append(ids.ids, id)
		if signer, err := ssh.ParsePrivateKey(data); err == nil {
			ids.pubs = append(ids.pubs, &Recipient{ssh: signer.PublicKey()})
		}
	}
	return nil
}

// holdsOneOf reports whether the user has the private key of one of rs.
func (ids *Identities) holdsOneOf(rs []*Recipient) bool {
	for _, r := range rs {
		for _, p := range ids.pubs {
			if r.Same(p) {
				return true
			}
		}
	}
	return false
}

func readPublicKey(path string) ssh.PublicKey {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	pk, _, _, _, err := ssh.ParseAuthorizedKey(data)
	if err != nil {
		return nil
	}
	return pk
}

// Own returns the public keys of the user's age keys, the recipients of
// a file that names none.
func (ids *Identities) Own() []*Recipient {
	var out []*Recipient
	for _, r := range ids.own {
		if p, err := ParseRecipient(fmt.Sprint(r)); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// Tried says where keys were looked for.
func (ids *Identities) Tried() string {
	if len(ids.tried) == 0 {
		return "nowhere (no home directory)"
	}
	return strings.Join(ids.tried, ", ")
}
