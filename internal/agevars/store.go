package agevars

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// Store is a run's secrets file: generate-once secrets, made the first
// time a run asks for them and kept encrypted in the file for every later
// run. Its methods are safe for concurrent use: the hosts of a run share
// one value.
type Store struct {
	path  string
	check bool

	mu     sync.Mutex
	retire []string // names a check sees as retired (Retiring)
	ids    *Identities
	values map[string]string // what was read or made, by name
	certs  map[string]issued // leaf certificates returned, by name (tls.go)
}

// NewStore returns the store of the secrets file at path. In check mode
// it never writes: a secret not made yet is Pending.
func NewStore(path string, check bool) *Store {
	return &Store{path: path, check: check, values: map[string]string{}}
}

// Pending is what Secret returns in check mode for a secret that a real
// run would make: not the secret, so not hidden, and unlike any host's
// current content, so that a step using it would change.
func Pending(name string) string {
	return fmt.Sprintf("(secret %s: not made yet; a run without --check makes it)", name)
}

var secretName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(/[^/]+)*$`)

// Secret returns the secret stored under name (a/b: b inside mapping a),
// and when there is none, makes one of kind with crypto/rand, writes it
// encrypted into the file (atomically, under the file's lock, every other
// value left as it was), and returns it. In check mode a secret not made
// yet is Pending(name), and pending is true.
func (s *Store) Secret(name, kind string) (value string, pending bool, err error) {
	gen, err := generator(kind)
	if err != nil {
		return "", false, fmt.Errorf("secret %s: %w", decode.Quote(name), err)
	}
	if !secretName.MatchString(name) {
		return "", false, fmt.Errorf("secret %s: a name is a variable name (letters, digits and _, starting with a letter or _), then /names inside it", decode.Quote(name))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if v, ok := s.values[name]; ok {
		return v, false, nil
	}
	if s.ids == nil {
		if s.ids, err = LoadIdentities(); err != nil {
			return "", false, err
		}
	}
	v, ok, err := s.read(name)
	if err != nil || ok {
		if ok {
			s.values[name] = v
		}
		return v, false, err
	}
	if s.check {
		return Pending(name), true, nil
	}
	unlock, err := s.lock()
	if err != nil {
		return "", false, err
	}
	defer unlock()
	// Another run may have made it since.
	if v, ok, err := s.read(name); err != nil || ok {
		if ok {
			s.values[name] = v
		}
		return v, false, err
	}
	f, err := s.file()
	if err != nil {
		return "", false, err
	}
	v, err = gen()
	if err != nil {
		return "", false, fmt.Errorf("secret %s: %w", decode.Quote(name), err)
	}
	out, err := f.Set(nil, strings.Split(name, "/"), v, s.ids.Own())
	if err != nil {
		return "", false, fmt.Errorf("secret %s: %w", decode.Quote(name), err)
	}
	if err := WriteFile(s.path, out); err != nil {
		return "", false, err
	}
	s.values[name] = v
	return v, false, nil
}

// lock locks the secrets file for a change, making its directory (0700:
// it holds only secrets) when it is not there yet.
func (s *Store) lock() (func(), error) {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return nil, fmt.Errorf("make the directory of the secrets file %s: %w", s.path, err)
	}
	return Lock(s.path)
}

// file reads the secrets file; a missing one is empty.
func (s *Store) file() (*File, error) {
	f, err := Read(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return Parse(s.path, nil)
	}
	return f, err
}

// read finds name's value in the file; one a check treats as retired
// (Retiring) is not there.
func (s *Store) read(name string) (string, bool, error) {
	if s.retiring(name) {
		return "", false, nil
	}
	return s.readFile(name)
}

// retiring says whether name is, or is inside, a name given to Retiring.
func (s *Store) retiring(name string) bool {
	for _, r := range s.retire {
		if name == r || strings.HasPrefix(name, r+"/") {
			return true
		}
	}
	return false
}

// readFile finds name's value in the file.
func (s *Store) readFile(name string) (string, bool, error) {
	f, err := s.file()
	if err != nil {
		return "", false, err
	}
	parts := strings.Split(name, "/")
	n := f.top()
	for _, p := range parts {
		n = lookup(n, p)
		if n == nil {
			return "", false, nil
		}
	}
	switch {
	case n.Tag == Tag:
		d := f.opener(s.ids)
		v, err := d.open(name, n)
		if err == errStop {
			err = fmt.Errorf("secret %s: cannot decrypt", decode.Quote(name))
		}
		return v, err == nil, err
	case n.Kind == yaml.ScalarNode && !isNull(n):
		return n.Value, true, nil
	case isNull(n):
		return "", false, nil
	}
	return "", false, decode.Errorf(decode.At(s.path, n), "secret %s: the file holds %s there, not one value", decode.Quote(name), decode.NodeKind(n))
}

// generator returns what makes a secret of kind: base64:N and hex:N (N
// random bytes, encoded), uuid (version 4), password:N (N letters and
// digits).
func generator(kind string) (func() (string, error), error) {
	what, arg, hasArg := strings.Cut(kind, ":")
	n := 0
	if hasArg {
		var err error
		if n, err = strconv.Atoi(arg); err != nil || n < 1 || n > 4096 {
			return nil, fmt.Errorf("kind %s: want a size from 1 to 4096 after the colon", decode.Quote(kind))
		}
	}
	switch {
	case what == "base64" && hasArg:
		return func() (string, error) {
			b, err := random(n)
			return base64.StdEncoding.EncodeToString(b), err
		}, nil
	case what == "hex" && hasArg:
		return func() (string, error) {
			b, err := random(n)
			return hex.EncodeToString(b), err
		}, nil
	case what == "uuid" && !hasArg:
		return func() (string, error) {
			b, err := random(16)
			if err != nil {
				return "", err
			}
			b[6] = b[6]&0x0f | 0x40
			b[8] = b[8]&0x3f | 0x80
			h := hex.EncodeToString(b)
			return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
		}, nil
	case what == "password" && hasArg:
		return func() (string, error) { return password(n) }, nil
	}
	return nil, fmt.Errorf("kind %s: want base64:N or hex:N (N random bytes), uuid, or password:N (N letters and digits)", decode.Quote(kind))
}

func random(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("read random bytes: %w", err)
	}
	return b, nil
}

// passwordChars are safe unquoted in a shell, YAML, a URL and a template.
const passwordChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func password(n int) (string, error) {
	out := make([]byte, n)
	max := big.NewInt(int64(len(passwordChars)))
	for i := range out {
		k, err := rand.Int(rand.Reader, max)
		if err != nil {
			return "", fmt.Errorf("read random bytes: %w", err)
		}
		out[i] = passwordChars[k.Int64()]
	}
	return string(out), nil
}
