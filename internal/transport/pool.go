package transport

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	osuser "os/user"
	"sync"
	"sync/atomic"
	"time"

	"github.com/melbahja/goph"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"golang.org/x/crypto/ssh"
)

// Target says how to reach a host.
type Target struct {
	Name    string
	Local   bool // the controller itself
	Address string
	Port    int
	User    string
	KeyFile string // private key; empty: the pool's keys, then ssh-agent
}

// Pool holds one connection per host for the whole run, made on first use.
// A host that could not be reached stays unreachable for the run.
type Pool struct {
	Keys     *HostKeys
	KeyFiles []string      // private keys for targets that name none
	User     string        // user for targets that name none; default: the current user
	Timeout  time.Duration // for connecting

	mu      sync.Mutex
	conns   map[string]*pooled
	signers map[string]ssh.Signer
	opened  atomic.Int64
}

type pooled struct {
	commands atomic.Int64 // started on the host (see SSHConfig.Commands)
	ready    chan struct{}
	conn     Conn
	closer   io.Closer
	err      error
}

// Get returns the connection to t, connecting if this is the first use.
func (p *Pool) Get(ctx context.Context, t Target) (Conn, error) {
	p.mu.Lock()
	if p.conns == nil {
		p.conns = map[string]*pooled{}
	}
	e, ok := p.conns[t.Name]
	if !ok {
		e = &pooled{ready: make(chan struct{})}
		p.conns[t.Name] = e
	}
	p.mu.Unlock()
	if ok {
		select {
		case <-e.ready:
			return e.conn, e.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	e.conn, e.closer, e.err = p.dial(ctx, t, &e.commands)
	if e.err != nil && ctx.Err() != nil {
		// Cancelled, not unreachable: let a later call try again.
		p.mu.Lock()
		delete(p.conns, t.Name)
		p.mu.Unlock()
	}
	close(e.ready)
	return e.conn, e.err
}

func (p *Pool) dial(ctx context.Context, t Target, commands *atomic.Int64) (Conn, io.Closer, error) {
	if t.Local {
		return Local{}, nil, nil
	}
	auth, err := p.auth(t)
	if err != nil {
		return nil, nil, &ConnError{Host: t.Name, Err: err}
	}
	keys := p.Keys
	if keys == nil {
		keys = &HostKeys{Files: DefaultKnownHosts()}
	}
	user := cmp.Or(t.User, p.User)
	if user == "" {
		u, err := osuser.Current()
		if err != nil {
			return nil, nil, fmt.Errorf("find the current user to connect to %s as: %w", t.Name, err)
		}
		user = u.Username
	}
	c, err := DialSSH(ctx, SSHConfig{
		Host: t.Name, Address: t.Address, Port: t.Port, User: user,
		Auth: auth, Keys: keys, Timeout: p.Timeout, Commands: commands,
	})
	if err != nil {
		return nil, nil, err
	}
	p.opened.Add(1)
	return c, c, nil
}

// Opened counts the SSH connections made.
func (p *Pool) Opened() int { return int(p.opened.Load()) }

// Commands counts the commands run on host over SSH so far.
func (p *Pool) Commands(host string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.conns[host]; e != nil {
		return int(e.commands.Load())
	}
	return 0
}

// Close ends every connection.
func (p *Pool) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for name, e := range p.conns {
		select {
		case <-e.ready:
			if e.closer != nil {
				if err := e.closer.Close(); err != nil && !errors.Is(err, io.EOF) {
					errs = append(errs, fmt.Errorf("close connection to %s: %w", name, err))
				}
			}
		default:
		}
	}
	p.conns = nil
	return errors.Join(errs...)
}

func (p *Pool) auth(t Target) (goph.Auth, error) {
	files := p.KeyFiles
	explicit := len(files) > 0
	if t.KeyFile != "" {
		files, explicit = []string{t.KeyFile}, true
	}
	if !explicit {
		files = sshkeys.Defaults()
	}
	var signers []ssh.Signer
	for _, f := range files {
		s, err := p.signer(f)
		if err != nil {
			if !explicit && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, err
		}
		signers = append(signers, s)
	}
	var auth goph.Auth
	if len(signers) > 0 {
		auth = append(auth, ssh.PublicKeys(signers...))
	}
	if goph.HasAgent() {
		agent, err := goph.UseAgent()
		if err != nil {
			return nil, fmt.Errorf("use ssh-agent: %w", err)
		}
		auth = append(auth, agent...)
	}
	if len(auth) == 0 {
		return nil, fmt.Errorf("no SSH credentials for %s: give the host a key in the inventory, pass --private-key, or load a key into ssh-agent", t.Name)
	}
	return auth, nil
}

func (p *Pool) signer(file string) (ssh.Signer, error) {
	file = sshkeys.ExpandHome(file)
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.signers[file]; ok {
		return s, nil
	}
	if _, err := os.Stat(file); err != nil {
		return nil, fmt.Errorf("private key: %w", err)
	}
	s, err := goph.GetSigner(file, "")
	if err != nil {
		var missing *ssh.PassphraseMissingError
		if errors.As(err, &missing) {
			return nil, fmt.Errorf("private key %s is protected by a passphrase: load it into ssh-agent (ssh-add %s)", file, file)
		}
		return nil, fmt.Errorf("private key %s: %w", file, err)
	}
	if p.signers == nil {
		p.signers = map[string]ssh.Signer{}
	}
	p.signers[file] = s
	return s, nil
}
