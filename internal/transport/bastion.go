package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"golang.org/x/crypto/ssh"
)

// bastion is the connection to a bastion, shared by every host behind it
// for the run.
type bastion struct {
	name   string // "bastion bast1 (10.0.0.1:22)"
	ready  chan struct{}
	client *ssh.Client
	err    error
	// cancelled says the connection was given up because the host that
	// asked for it was cancelled: another host may try again.
	cancelled bool
}

// hopError is a bastion that failed: it could not be reached, or refused.
type hopError struct {
	bastion string
	err     error
}

func (e *hopError) Error() string { return fmt.Sprintf("%s: %v", e.bastion, e.err) }
func (e *hopError) Unwrap() error { return e.err }

// through returns the connection to the last bastion of chain, connecting
// to each bastion of it that is not connected yet: one connection to a
// bastion for the run. A bastion that could not be reached stays so for
// the run, as a host does.
func (p *Pool) through(ctx context.Context, chain []endpoint) (*ssh.Client, error) {
	if len(chain) == 0 {
		return nil, nil
	}
	ids := make([]string, len(chain))
	for i, e := range chain {
		ids[i] = e.id()
	}
	key := strings.Join(ids, " > ")
	last := chain[len(chain)-1]
	for {
		p.mu.Lock()
		if p.bastions == nil {
			p.bastions = map[string]*bastion{}
		}
		b, ok := p.bastions[key]
		if !ok {
			b = &bastion{name: last.bastionName(), ready: make(chan struct{})}
			p.bastions[key] = b
		}
		p.mu.Unlock()
		if ok {
			select {
			case <-b.ready:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if b.cancelled {
				continue
			}
			return b.client, b.err
		}
		b.client, b.err = p.dialBastion(ctx, chain)
		p.mu.Lock()
		switch {
		case b.err != nil && ctx.Err() != nil:
			b.cancelled = true
			delete(p.bastions, key)
		case b.err == nil:
			p.bastionsOpened = append(p.bastionsOpened, b)
		}
		p.mu.Unlock()
		close(b.ready)
		return b.client, b.err
	}
}

func (p *Pool) dialBastion(ctx context.Context, chain []endpoint) (*ssh.Client, error) {
	via, err := p.through(ctx, chain[:len(chain)-1])
	if err != nil {
		return nil, err // says which bastion before this one failed
	}
	e := chain[len(chain)-1]
	auth, err := p.auth(e)
	if err != nil {
		return nil, &hopError{bastion: e.bastionName(), err: err}
	}
	cfg := SSHConfig{
		Host: e.name, Address: e.addr, Port: e.port, User: e.user, Auth: auth,
		Timeout: p.Timeout, HostKeyCallback: p.hostKeyCallback(e),
	}
	if len(chain) > 1 {
		cfg.Via, cfg.Bastion = via, chain[len(chain)-2].bastionName()
	}
	c, err := DialSSH(ctx, cfg)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ce *ConnError
		if errors.As(err, &ce) {
			if ce.Via != "" {
				// The bastion before this one could not reach it.
				return nil, &hopError{bastion: ce.Via, err: ce.Err}
			}
			err = ce.Err
		}
		return nil, &hopError{bastion: e.bastionName(), err: err}
	}
	// The bastion's SSH client is all the hosts behind it need: the
	// session machinery of *SSH is not used, and is let go.
	return c.client.Client, nil
}

// Bastions counts the bastions connected to.
func (p *Pool) Bastions() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.bastionsOpened)
}

// closeBastions closes the bastions, the last connected first: a bastion
// reached through another goes before it. The caller holds p.mu.
func (p *Pool) closeBastions() []error {
	var errs []error
	for i := len(p.bastionsOpened) - 1; i >= 0; i-- {
		b := p.bastionsOpened[i]
		if err := b.client.Close(); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("close connection to %s: %w", b.name, err))
		}
	}
	p.bastionsOpened = nil
	p.bastions = nil
	return errs
}
