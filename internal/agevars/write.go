package agevars

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"filippo.io/age"
	"github.com/runbookdev/runbook/internal/decode"
)

// Read reads the vars file path for a secrets command.
func Read(path string) (*File, error) {
	data, err := decode.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return Parse(path, data)
}

// WriteFile replaces path with data atomically: a temporary file beside
// it, mode 0600 from its creation, synced, then renamed over it. Readers
// see the old file or the new one, and an interruption leaves the old
// one. A symbolic link is written through, not replaced.
func WriteFile(path string, data []byte) error {
	target := path
	if p, err := filepath.EvalSymlinks(path); err == nil {
		target = p
	}
	tmp, err := os.CreateTemp(filepath.Dir(target), "."+filepath.Base(target)+".tmp-")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), target); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	done = true
	if d, err := os.Open(filepath.Dir(target)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// Lock takes an exclusive lock for changing the file at path, held by
// this process until unlock: on the file's directory, since the file
// itself is replaced by each write. Two commands (or two hosts of one
// run) changing one file take turns, each re-reading it once it holds
// the lock.
func Lock(path string) (unlock func(), err error) {
	dir := filepath.Dir(path)
	if p, err := filepath.EvalSymlinks(path); err == nil {
		dir = filepath.Dir(p)
	}
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(d.Fd()), syscall.LOCK_EX); err != nil {
		d.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { d.Close() }, nil
}

// ErrKeyExists: Init found a key where it would make one.
var ErrKeyExists = errors.New("a key is already there")

// Init makes an age key at path (0600, in a directory made 0700),
// refusing to replace one, and returns its public key.
func Init(path string) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", fmt.Errorf("make an age key: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("make an age key at %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("%s: %w", path, ErrKeyExists)
	}
	if err != nil {
		return "", fmt.Errorf("make an age key at %s: %w", path, err)
	}
	pub := id.Recipient().String()
	_, err = fmt.Fprintf(f, "# created: %s\n# public key: %s\n%s\n", time.Now().UTC().Format(time.RFC3339), pub, id)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return "", fmt.Errorf("make an age key at %s: %w", path, err)
	}
	return pub, nil
}

// PublicKey reads the public key of the age key at path.
func PublicKey(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	ids := &Identities{}
	if err := ids.add(path, data); err != nil {
		return "", err
	}
	if len(ids.own) == 0 {
		return "", fmt.Errorf("%s holds no age key", path)
	}
	return fmt.Sprint(ids.own[0]), nil
}
