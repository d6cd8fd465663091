package tmpl

import (
	"errors"
	"fmt"

	"github.com/runbookdev/runbook/internal/decode"
)

// SecretSource keeps generate-once secrets for the `secret` template
// function (agevars.Store): the value stored under name, made of kind the
// first time it is asked for. pending: check mode, where nothing is made,
// and value is not the secret but says that it would be made. It keeps
// the certificates of the tls_ functions too.
type SecretSource interface {
	Secret(name, kind string) (value string, pending bool, err error)
	// Retired is the value name had before `runbook secrets rotate`
	// retired it, "" when there is none.
	Retired(name string) (string, error)
	CertSource
}

func init() {
	// Known to the parser everywhere; it works in a run whose runbook
	// names a secrets_file (Taint.UseSecrets).
	funcs["secret"] = func(name, kind string) (string, error) {
		return "", fmt.Errorf("secret %s: the runbook names no secrets_file to keep it in: add `secrets_file: secrets.yaml` beside its steps", decode.Quote(name))
	}
	funcs["retired"] = func(name string) (string, error) {
		return "", noSecretsFile("retired", name)
	}
}

// UseSecrets makes the `secret` template function of renderings with t's
// Trackers read and make secrets in src. What it returns is secret. Call
// it before anything is rendered.
func (t *Taint) UseSecrets(src SecretSource) {
	t.src = src
}

func (t *Taint) secretFunc() func(name, kind string) (string, error) {
	return func(name, kind string) (string, error) {
		v, pending, err := t.src.Secret(name, kind)
		if err != nil {
			return "", err
		}
		if v == "" {
			return "", errors.New("secret " + decode.Quote(name) + ": empty in the secrets file")
		}
		if pending {
			t.notePending(v)
		} else {
			t.set.Add(v)
		}
		return v, nil
	}
}

// retiredFunc is {{ retired "consul/tokens/fcs/secret" }}: what the
// secret was before its rotation, to remove it once the new one is in
// use; "" when it was never rotated. Secret, as the secret is.
func (t *Taint) retiredFunc() func(name string) (string, error) {
	return func(name string) (string, error) {
		v, err := t.src.Retired(name)
		if v != "" {
			t.set.Add(v)
		}
		return v, err
	}
}
