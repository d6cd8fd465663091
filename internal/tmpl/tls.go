package tmpl

import (
	"fmt"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/pki"
)

// CertSource keeps the certificates of the tls_ca, tls_cert and tls_key
// template functions (agevars.Store): each made once, the leaf issued
// anew when it no longer matches what is asked. pending: as for
// SecretSource.
type CertSource interface {
	// CA is the certificate of the CA kept under name, made with o.
	CA(name string, o pki.CAOptions) (cert string, pending bool, err error)
	// Cert is the certificate kept under name for r, signed by the CA
	// kept under ca.
	Cert(ca, name string, r pki.Request) (cert string, pending bool, err error)
	// Key is the private key kept under name: a secret.
	Key(name string) (key string, pending bool, err error)
}

func init() {
	// As secret: known to the parser everywhere, working in a run whose
	// runbook names a secrets_file.
	funcs["tls_ca"] = func(name string, opts ...string) (string, error) {
		return "", noSecretsFile("tls_ca", name)
	}
	funcs["tls_cert"] = func(ca, name string, names ...string) (string, error) {
		return "", noSecretsFile("tls_cert", name)
	}
	funcs["tls_key"] = func(name string) (string, error) {
		return "", noSecretsFile("tls_key", name)
	}
}

func noSecretsFile(fn, name string) error {
	return fmt.Errorf("%s %s: the runbook names no secrets_file to keep it in: add `secrets_file: secrets.yaml` beside its steps", fn, decode.Quote(name))
}

// tlsFuncs are the tls_ functions of a Taint with a SecretSource. The
// certificates are public: they are wrapped as any function is (what they
// make of a secret is secret), no more. The key is secret.
func (t *Taint) tlsFuncs() map[string]any {
	return map[string]any{
		"tls_ca": t.wrap(func(name string, opts ...string) (string, error) {
			o, err := pki.ParseCAOptions(opts)
			if err != nil {
				return "", fmt.Errorf("tls_ca %s: %w", decode.Quote(name), err)
			}
			v, pending, err := t.src.CA(name, o)
			if pending {
				t.notePending(v)
			}
			return v, err
		}),
		"tls_cert": t.wrap(func(ca, name string, names ...string) (string, error) {
			r, err := pki.ParseRequest(names)
			if err != nil {
				return "", fmt.Errorf("tls_cert %s: %w", decode.Quote(name), err)
			}
			v, pending, err := t.src.Cert(ca, name, r)
			if pending {
				t.notePending(v)
			}
			return v, err
		}),
		"tls_key": func(name string) (string, error) {
			v, pending, err := t.src.Key(name)
			if err != nil {
				return "", err
			}
			if pending {
				t.notePending(v)
			} else {
				t.set.Add(v)
			}
			return v, nil
		},
	}
}
