package agevars

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"filippo.io/age"
	"filippo.io/age/agessh"
	"golang.org/x/crypto/ssh"
)

// Recipient is a public key a file's values are encrypted to: an age key
// (age1...) or an SSH ed25519 or RSA public key.
type Recipient struct {
	Text string // as written in the file's header
	age  age.Recipient
	ssh  ssh.PublicKey // nil for an age key
	note string        // an SSH key's comment
}

// ParseRecipient reads a recipient as written in a header or given on the
// command line.
func ParseRecipient(s string) (*Recipient, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return nil, errors.New("an empty recipient: want an age public key (age1...) or an SSH public key (ssh-ed25519 AAAA... or ssh-rsa AAAA...)")
	case strings.HasPrefix(strings.ToUpper(s), "AGE-SECRET-KEY-"):
		// Never quoted: it is a private key.
		return nil, errors.New("that is an age private key (AGE-SECRET-KEY-...); a recipient is its public key (age1...), which `runbook secrets init` prints")
	case strings.HasPrefix(s, "-----BEGIN"):
		return nil, errors.New("that is a private key; a recipient is a public key (age1..., or an SSH key's .pub line)")
	case strings.HasPrefix(s, "age1"):
		rs, err := age.ParseRecipients(strings.NewReader(s))
		if err != nil || len(rs) != 1 {
			return nil, fmt.Errorf("recipient %q is not an age public key", s)
		}
		return &Recipient{Text: s, age: rs[0]}, nil
	case strings.HasPrefix(s, "ssh-"):
		pk, comment, _, _, err := ssh.ParseAuthorizedKey([]byte(s))
		if err != nil {
			return nil, fmt.Errorf("recipient %q is not an SSH public key: %w", cut(s), err)
		}
		r, err := agessh.ParseRecipient(s)
		if err != nil {
			return nil, fmt.Errorf("recipient %s %s: age encrypts to ssh-ed25519 and ssh-rsa keys only", pk.Type(), ssh.FingerprintSHA256(pk))
		}
		return &Recipient{Text: s, age: r, ssh: pk, note: comment}, nil
	}
	return nil, fmt.Errorf("recipient %q: want an age public key (age1...) or an SSH public key (ssh-ed25519 AAAA... or ssh-rsa AAAA...)", cut(s))
}

// ReadRecipients reads a recipient given on the command line: a key, or
// the name of a file of them, one a line (an SSH key's .pub file).
func ReadRecipients(arg string) ([]*Recipient, error) {
	r, err := ParseRecipient(arg)
	if err == nil {
		return []*Recipient{r}, nil
	}
	if !fileExists(arg) {
		return nil, err
	}
	data, err := os.ReadFile(arg)
	if err != nil {
		return nil, fmt.Errorf("read recipients from %s: %w", arg, err)
	}
	var out []*Recipient
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		r, err := ParseRecipient(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", arg, n, err)
		}
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s holds no recipient", arg)
	}
	return out, nil
}

func fileExists(p string) bool {
	info, err := os.Stat(p)
	return err == nil && info.Mode().IsRegular()
}

// String names the recipient in messages: an age key whole, an SSH key by
// its type, fingerprint and comment, as ssh-keygen -l shows it.
func (r *Recipient) String() string {
	if r.ssh == nil {
		return r.Text
	}
	s := r.ssh.Type() + " " + ssh.FingerprintSHA256(r.ssh)
	if r.note != "" {
		s += " (" + r.note + ")"
	}
	return s
}

// Same reports whether r and o are the same key, whatever their comments.
func (r *Recipient) Same(o *Recipient) bool {
	if (r.ssh == nil) != (o.ssh == nil) {
		return false
	}
	if r.ssh != nil {
		return bytes.Equal(r.ssh.Marshal(), o.ssh.Marshal())
	}
	return r.Text == o.Text
}

// Matches reports whether arg names r: the key itself, or an SSH key's
// SHA256 fingerprint.
func (r *Recipient) Matches(arg string) bool {
	if r.ssh != nil && strings.TrimSpace(arg) == ssh.FingerprintSHA256(r.ssh) {
		return true
	}
	o, err := ParseRecipient(arg)
	return err == nil && r.Same(o)
}

func ageRecipients(rs []*Recipient) []age.Recipient {
	out := make([]age.Recipient, len(rs))
	for i, r := range rs {
		out[i] = r.age
	}
	return out
}

func describe(rs []*Recipient) string {
	if len(rs) == 0 {
		return "(no recipients listed)"
	}
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.String()
	}
	return strings.Join(names, ", ")
}

// cut shortens what a person typed for a message.
func cut(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}
