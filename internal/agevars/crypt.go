package agevars

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/runbookdev/runbook/internal/decode"
)

// encrypt returns plain encrypted to rs, armored (PEM-like text that
// `age -d` reads as it is).
func encrypt(plain string, rs []*Recipient) (string, error) {
	if len(rs) == 0 {
		return "", errors.New("no recipients to encrypt to")
	}
	var b strings.Builder
	a := armor.NewWriter(&b)
	w, err := age.Encrypt(a, ageRecipients(rs)...)
	if err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	if _, err := io.WriteString(w, plain); err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	if err := a.Close(); err != nil {
		return "", fmt.Errorf("encrypt: %w", err)
	}
	return b.String(), nil
}

// Why a value could not be decrypted.
var (
	// ErrNotForYou: none of the user's keys is among its recipients.
	ErrNotForYou = errors.New("not encrypted for any of your keys")
	// ErrLocked: it is for an SSH key protected by a passphrase.
	ErrLocked = errors.New("encrypted for a passphrase-protected SSH key")
	// ErrDamaged: it is not valid age ciphertext, or was changed.
	ErrDamaged = errors.New("damaged")
)

// decrypt opens an armored value. Errors wrap ErrNotForYou, ErrLocked or
// ErrDamaged; none quotes the value.
func decrypt(armored string, ids *Identities) (string, error) {
	if len(ids.ids) == 0 {
		return "", ErrNotForYou
	}
	ids.locked = ""
	r, err := age.Decrypt(armor.NewReader(strings.NewReader(armored)), ids.ids...)
	var none *age.NoIdentityMatchError
	switch {
	case ids.locked != "":
		return "", fmt.Errorf("%w (%s)", ErrLocked, ids.locked)
	case errors.As(err, &none):
		return "", ErrNotForYou
	case err != nil:
		return "", fmt.Errorf("%w: %v", ErrDamaged, err)
	}
	b, err := io.ReadAll(io.LimitReader(r, decode.MaxFile+1))
	switch {
	case err != nil:
		return "", fmt.Errorf("%w: %v", ErrDamaged, err)
	case len(b) > decode.MaxFile:
		return "", fmt.Errorf("%w: larger than %d MiB", ErrDamaged, decode.MaxFile>>20)
	}
	return string(b), nil
}
