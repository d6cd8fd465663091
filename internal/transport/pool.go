package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/melbahja/goph"
	"github.com/runbookdev/runbook/internal/sshconfig"
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
	// ProxyJump is the bastions the host is reached through, as ssh's
	// ProxyJump says them ([user@]host[:port], comma-separated, the
	// first connected to first); "none" is none, whatever ssh_config
	// says. Empty: as ssh_config says.
	ProxyJump string
}

// Pool holds one connection per host for the whole run, made on first use,
// and one per bastion, shared by the hosts behind it. A host or bastion
// that could not be reached stays unreachable for the run.
type Pool struct {
	Keys     *HostKeys
	KeyFiles []string      // private keys for targets that name none
	User     string        // user for targets that name none; default: ssh_config's, else the current user
	Timeout  time.Duration // for connecting
	// SSHConfig is the ssh_config read for the run; nil reads none. A
	// host is looked up in it by its address, as `ssh ADDRESS` would look
	// it up; what the target says wins over it (see endpoint).
	SSHConfig *sshconfig.Config
	// Log, when set, is told what the user should know and did not ask
	// about: a host key trusted because ssh_config said so.
	Log *slog.Logger

	mu       sync.Mutex
	conns    map[string]*pooled
	signers  map[string]ssh.Signer
	known    map[string]*HostKeys // by known_hosts files, for ssh_config's UserKnownHostsFile
	bastions map[string]*bastion
	opened   atomic.Int64
	// bastionsOpened lists the bastions connected to, in order: they are
	// closed in reverse, after the hosts behind them.
	bastionsOpened []*bastion
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
	if s, ok := e.conn.(*SSH); ok {
		// One connection per host, for the run, even across a reboot:
		// see redialer.
		r := &redialer{pool: p, target: t, commands: &e.commands, cur: s}
		e.conn, e.closer = r, r
	}
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
	e, err := p.target(t)
	if err != nil {
		return nil, nil, &ConnError{Host: t.Name, Err: err}
	}
	chain, err := p.chain(e, nil)
	if err != nil {
		return nil, nil, &ConnError{Host: t.Name, Err: err}
	}
	auth, err := p.auth(e)
	if err != nil {
		return nil, nil, &ConnError{Host: t.Name, Err: err}
	}
	via, err := p.through(ctx, chain)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		var hop *hopError
		if errors.As(err, &hop) {
			return nil, nil, &ConnError{Host: t.Name, Via: hop.bastion, Err: hop.err}
		}
		return nil, nil, &ConnError{Host: t.Name, Err: err}
	}
	cfg := SSHConfig{
		Host: t.Name, Address: e.addr, Port: e.port, User: e.user,
		Auth: auth, Timeout: p.Timeout, Commands: commands,
		HostKeyCallback: p.hostKeyCallback(e),
	}
	if len(chain) > 0 {
		cfg.Via, cfg.Bastion = via, chain[len(chain)-1].bastionName()
	}
	c, err := DialSSH(ctx, cfg)
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

// Close ends every connection, the hosts' first, then the bastions'.
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
	errs = append(errs, p.closeBastions()...)
	return errors.Join(errs...)
}

// auth is how to log in to e: its own or the pool's keys, then those
// ssh_config names (skipped when missing, as ssh skips them), or else the
// default keys; then ssh-agent's.
func (p *Pool) auth(e endpoint) (goph.Auth, error) {
	var signers []ssh.Signer
	for _, f := range e.keys {
		s, err := p.signer(f)
		if err != nil {
			return nil, err
		}
		signers = append(signers, s)
	}
	var skipped []string
	for _, f := range e.configKeys {
		s, err := p.signer(f)
		if err != nil {
			var locked *lockedKeyError
			if !errors.Is(err, os.ErrNotExist) && !errors.As(err, &locked) {
				return nil, fmt.Errorf("IdentityFile of ssh config %s: %w", e.from, err)
			}
			// A locked key may be in ssh-agent, as ssh would find it.
			skipped = append(skipped, f)
			continue
		}
		signers = append(signers, s)
	}
	if len(e.keys) == 0 && len(e.configKeys) == 0 {
		for _, f := range sshkeys.Defaults() {
			s, err := p.signer(f)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return nil, err
			}
			signers = append(signers, s)
		}
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
		if len(skipped) > 0 {
			return nil, fmt.Errorf("no SSH credentials for %s: ssh config %s names IdentityFile %s, missing or protected by a passphrase (load it into ssh-agent), and ssh-agent has no key", e.name, e.from, strings.Join(skipped, ", "))
		}
		return nil, fmt.Errorf("no SSH credentials for %s: give the host a key in the inventory or an IdentityFile in ~/.ssh/config, pass --private-key, or load a key into ssh-agent", e.name)
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
			return nil, &lockedKeyError{file}
		}
		return nil, fmt.Errorf("private key %s: %w", file, err)
	}
	if p.signers == nil {
		p.signers = map[string]ssh.Signer{}
	}
	p.signers[file] = s
	return s, nil
}

// lockedKeyError is a private key protected by a passphrase.
type lockedKeyError struct{ file string }

func (e *lockedKeyError) Error() string {
	return fmt.Sprintf("private key %s is protected by a passphrase: load it into ssh-agent (ssh-add %s)", e.file, e.file)
}
