package transport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/melbahja/goph"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeys verifies SSH host keys against known_hosts files. Unknown keys
// are refused unless AcceptNew is set, in which case they are trusted on
// first use and recorded in the first file. A changed key is always refused.
type HostKeys struct {
	Files     []string
	AcceptNew bool
	// Explicit says Files were chosen for the run (--known-hosts,
	// $RUNBOOK_KNOWN_HOSTS): ssh_config's UserKnownHostsFile does not
	// replace them.
	Explicit bool

	mu     sync.Mutex
	parsed ssh.HostKeyCallback // parsed files; nil after a key is recorded
}

// HostKeyError is a host key that was refused.
type HostKeyError struct {
	Host        string // inventory name
	Addr        string // host:port as dialled
	Fingerprint string
	Changed     bool
	File        string
}

func (e *HostKeyError) Error() string {
	if e.Changed {
		return fmt.Sprintf("host key for %s (%s) has CHANGED to %s and does not match %s: "+
			"someone may be intercepting the connection, or the host was rebuilt; "+
			"if you know it was rebuilt, remove the old key with: ssh-keygen -R %s -f %s",
			e.Host, e.Addr, e.Fingerprint, e.File, knownhosts.Normalize(e.Addr), e.File)
	}
	return fmt.Sprintf("host key for %s (%s) is not known (%s): verify it, then run again with "+
		"--accept-new-host-keys to trust it and record it in %s, or add it with: ssh-keyscan -p PORT HOST >> %s",
		e.Host, e.Addr, e.Fingerprint, e.File, e.File)
}

// Callback returns the check for one host, named host in messages.
func (k *HostKeys) Callback(host string) ssh.HostKeyCallback {
	return k.callback(host, k.AcceptNew, nil)
}

// callback is Callback with the policy for unknown keys given (ssh_config
// may say accept-new for some hosts only); recorded, when set, is told of
// each key recorded.
func (k *HostKeys) callback(host string, acceptNew bool, recorded func(fingerprint, file string)) ssh.HostKeyCallback {
	return func(addr string, remote net.Addr, key ssh.PublicKey) error {
		k.mu.Lock()
		defer k.mu.Unlock()
		check, err := k.load()
		if err != nil {
			return err
		}
		err = check(addr, remote, key)
		var ke *knownhosts.KeyError
		if !errors.As(err, &ke) {
			return err
		}
		refused := &HostKeyError{Host: host, Addr: addr, Fingerprint: ssh.FingerprintSHA256(key), File: k.primary()}
		if len(ke.Want) > 0 {
			refused.Changed = true
			refused.File = ke.Want[0].Filename
			return refused
		}
		if !acceptNew {
			return refused
		}
		if err := os.MkdirAll(filepath.Dir(k.primary()), 0o700); err != nil {
			return fmt.Errorf("record host key of %s: %w", host, err)
		}
		if err := goph.AddKnownHost(addr, remote, key, k.primary()); err != nil {
			return fmt.Errorf("record host key of %s in %s: %w", host, k.primary(), err)
		}
		k.parsed = nil
		if recorded != nil {
			recorded(refused.Fingerprint, k.primary())
		}
		return nil
	}
}

func (k *HostKeys) primary() string {
	if len(k.Files) == 0 {
		return "~/.ssh/known_hosts"
	}
	return k.Files[0]
}

func (k *HostKeys) load() (ssh.HostKeyCallback, error) {
	if k.parsed != nil {
		return k.parsed, nil
	}
	var files []string
	for _, f := range k.Files {
		if _, err := os.Stat(f); err == nil {
			files = append(files, f)
		}
	}
	cb, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("read known hosts: %w", err)
	}
	k.parsed = cb
	return cb, nil
}

// DefaultKnownHosts is the user's known_hosts file followed by the system's.
func DefaultKnownHosts() []string {
	var files []string
	if home, err := os.UserHomeDir(); err == nil {
		files = append(files, filepath.Join(home, ".ssh", "known_hosts"))
	}
	return append(files, globalKnownHosts)
}

// globalKnownHosts is OpenSSH's GlobalKnownHostsFile.
const globalKnownHosts = "/etc/ssh/ssh_known_hosts"
