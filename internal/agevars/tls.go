package agevars

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/pki"
)

// Certificates are kept in the secrets file as two values under their
// name: NAME/key (the private key, made once and never replaced) and
// NAME/cert (the certificate for it: a CA's own, made once, or a leaf
// the CA signed, issued anew as pki.Reissue says). Both are encrypted;
// only the key is a secret, but encrypting the certificate too lets the
// file keep one kind of value.

// issued is a certificate a run returned, so that every host of the run
// gets the same one, for the same request.
type issued struct {
	ca, asked string // the CA's name and the request (pki.Request.String)
	cert      string
	pending   bool
}

// PendingReissue is what Cert returns in check mode for a certificate
// that a real run would issue anew, and why.
func PendingReissue(name, reason string) string {
	return fmt.Sprintf("(certificate %s: would be issued anew: %s; a run without --check does it)", name, reason)
}

// CA returns the certificate of the CA kept under name, made with o (and
// with the key under name/key, made too when there is none) when the
// file has none. In check mode a CA not made yet is Pending(name).
func (s *Store) CA(name string, o pki.CAOptions) (cert string, pending bool, err error) {
	if err := checkName(name); err != nil {
		return "", false, fmt.Errorf("CA %s: %w", decode.Quote(name), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cert, pending, err = s.ca(name, o)
	if err != nil {
		return "", false, fmt.Errorf("CA %s: %w", decode.Quote(name), err)
	}
	return cert, pending, nil
}

func (s *Store) ca(name string, o pki.CAOptions) (string, bool, error) {
	cert, ok, err := s.get(name + "/cert")
	if err != nil || ok {
		return cert, false, err
	}
	if s.check {
		return Pending(name), true, nil
	}
	err = s.change(func(tx *tx) error {
		cert, err = tx.ca(name, o)
		return err
	})
	return cert, false, err
}

// Key returns the private key kept under name/key, made when the file has
// none: a leaf's, so that a runbook may write it before its certificate,
// or a CA's. In check mode a key not made yet is Pending(name/key).
func (s *Store) Key(name string) (key string, pending bool, err error) {
	if err := checkName(name); err != nil {
		return "", false, fmt.Errorf("key %s: %w", decode.Quote(name), err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok, err := s.get(name + "/key")
	if err != nil || ok {
		return key, false, err
	}
	if s.check {
		return Pending(name + "/key"), true, nil
	}
	err = s.change(func(tx *tx) error {
		key, err = tx.key(name)
		return err
	})
	if err != nil {
		return "", false, fmt.Errorf("key %s: %w", decode.Quote(name), err)
	}
	return key, false, nil
}

// Cert returns the certificate kept under name for r, signed by the CA
// kept under caName, issued (with the CA and the key, when the file lacks
// them) when the file has none, or anew when pki.Reissue says so. In
// check mode one that a run would issue is Pending(name), or
// PendingReissue. One run asking for one name with different requests is
// an error: the certificate would be issued anew on each.
func (s *Store) Cert(caName, name string, r pki.Request) (cert string, pending bool, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("certificate %s: %w", decode.Quote(name), err)
		}
	}()
	if err := checkName(name); err != nil {
		return "", false, err
	}
	if err := checkName(caName); err != nil {
		return "", false, fmt.Errorf("CA %s: %w", decode.Quote(caName), err)
	}
	if caName == name {
		return "", false, errors.New("the CA's name, not a certificate's: give the certificate a name of its own")
	}
	asked := r.String()
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := s.certs[name]; ok {
		switch {
		case c.ca != caName:
			return "", false, fmt.Errorf("asked of CA %s here and of CA %s elsewhere in this run: give each its own name", decode.Quote(caName), decode.Quote(c.ca))
		case c.asked != asked:
			return "", false, fmt.Errorf("asked for %s here and for %s elsewhere in this run: give each host's certificate a name of its own, such as consul/servers/{{ .host.name }}", asked, c.asked)
		}
		return c.cert, c.pending, nil
	}
	cert, pending, err = s.cert(caName, name, r)
	if err != nil {
		return "", false, err
	}
	if s.certs == nil {
		s.certs = map[string]issued{}
	}
	s.certs[name] = issued{ca: caName, asked: asked, cert: cert, pending: pending}
	return cert, pending, nil
}

func (s *Store) cert(caName, name string, r pki.Request) (string, bool, error) {
	cert, reason, err := reissue(s.get, caName, name, r)
	if err != nil || reason == "" {
		return cert, false, err
	}
	if s.check {
		if cert == "" {
			return Pending(name), true, nil
		}
		return PendingReissue(name, reason), true, nil
	}
	err = s.change(func(tx *tx) error {
		// Another run may have issued it since.
		if cert, reason, err = reissue(tx.get, caName, name, r); err != nil || reason == "" {
			return err
		}
		caCert, err := tx.ca(caName, pki.CAOptions{})
		if err != nil {
			return fmt.Errorf("CA %s: %w", decode.Quote(caName), err)
		}
		caKey, ok, err := tx.get(caName + "/key")
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("CA %s: its key %s/key is not in %s: put it back (`runbook secrets set`), or remove %s to make a new CA", decode.Quote(caName), caName, s.path, caName)
		}
		key, err := tx.key(name)
		if err != nil {
			return err
		}
		if cert, err = pki.Issue(caCert, caKey, key, r, time.Now()); err != nil {
			return fmt.Errorf("CA %s: %w", decode.Quote(caName), err)
		}
		tx.set(name+"/cert", cert)
		return nil
	})
	return cert, false, err
}

// reissue finds the certificate under name, and why it must be issued
// (anew): "" when it need not.
func reissue(get func(string) (string, bool, error), caName, name string, r pki.Request) (cert, reason string, err error) {
	cert, ok, err := get(name + "/cert")
	if err != nil || !ok {
		return "", "not made yet", err
	}
	caCert, ok, err := get(caName + "/cert")
	if err != nil || !ok {
		return cert, "the CA is not made yet", err
	}
	key, ok, err := get(name + "/key")
	if err != nil || !ok {
		return cert, "its key is not in the file", err
	}
	return cert, pki.Reissue(cert, caCert, key, r, time.Now()), nil
}

func checkName(name string) error {
	if !secretName.MatchString(name) {
		return errors.New("a name is a variable name (letters, digits and _, starting with a letter or _), then /names inside it")
	}
	return nil
}

// get returns the value at path (a/b/c), read once per run. Call with
// s.mu held.
func (s *Store) get(path string) (string, bool, error) {
	if v, ok := s.values[path]; ok {
		return v, true, nil
	}
	if s.ids == nil {
		ids, err := LoadIdentities()
		if err != nil {
			return "", false, err
		}
		s.ids = ids
	}
	v, ok, err := s.read(path)
	if ok {
		s.values[path] = v
	}
	return v, ok, err
}

// tx is a change to the secrets file under its lock: what it reads is
// the file as it is now, and what it sets is written at once at the end.
type tx struct {
	s    *Store
	sets [][2]string
}

// change runs fn under the file's lock, then writes what it set in one
// atomic write, every other value keeping its bytes. Call with s.mu held.
func (s *Store) change(fn func(*tx) error) error {
	if s.ids == nil {
		ids, err := LoadIdentities()
		if err != nil {
			return err
		}
		s.ids = ids
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	tx := &tx{s: s}
	if err := fn(tx); err != nil || len(tx.sets) == 0 {
		return err
	}
	f, err := s.file()
	if err != nil {
		return err
	}
	for _, kv := range tx.sets {
		out, err := f.Set(nil, strings.Split(kv[0], "/"), kv[1], s.ids.Own())
		if err != nil {
			return err
		}
		if f, err = Parse(s.path, out); err != nil {
			return err
		}
	}
	if err := WriteFile(s.path, f.Text()); err != nil {
		return err
	}
	for _, kv := range tx.sets {
		s.values[kv[0]] = kv[1]
	}
	return nil
}

func (tx *tx) get(path string) (string, bool, error) {
	for _, kv := range tx.sets {
		if kv[0] == path {
			return kv[1], true, nil
		}
	}
	return tx.s.read(path)
}

func (tx *tx) set(path, v string) { tx.sets = append(tx.sets, [2]string{path, v}) }

// key returns the key under name, made if there is none.
func (tx *tx) key(name string) (string, error) {
	k, ok, err := tx.get(name + "/key")
	if err != nil || ok {
		return k, err
	}
	if k, err = pki.NewKey(); err != nil {
		return "", err
	}
	tx.set(name+"/key", k)
	return k, nil
}

// ca returns the CA certificate under name, made if there is none.
func (tx *tx) ca(name string, o pki.CAOptions) (string, error) {
	c, ok, err := tx.get(name + "/cert")
	if err != nil || ok {
		return c, err
	}
	k, err := tx.key(name)
	if err != nil {
		return "", err
	}
	if c, err = pki.NewCA(name, k, o, time.Now()); err != nil {
		return "", err
	}
	tx.set(name+"/cert", c)
	return c, nil
}
