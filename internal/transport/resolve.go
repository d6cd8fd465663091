package transport

import (
	"cmp"
	"fmt"
	"net"
	osuser "os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/internal/sshconfig"
	"golang.org/x/crypto/ssh"
)

// endpoint is an SSH server as the run reaches it: a host, or a bastion
// in front of hosts. What the inventory says wins, then runbook's flags,
// then ssh_config, then OpenSSH's defaults, as Ansible users expect (it
// passes ansible_user and -u to ssh as -o User=..., which wins over
// ssh_config).
type endpoint struct {
	name       string // the inventory's name, or the alias a jump gives
	addr       string
	port       int
	user       string
	keys       []string // the inventory's key or --private-key: each must be there
	configKeys []string // ssh_config's IdentityFiles, expanded: skipped when missing
	known      *HostKeys
	acceptNew  bool
	jump       string // ProxyJump
	from       string // the ssh_config files that said anything
	strictFrom string // the StrictHostKeyChecking ssh_config set, for messages
}

func (e endpoint) hostport() string { return net.JoinHostPort(e.addr, strconv.Itoa(e.port)) }

// id tells endpoints apart: the same server as the same user.
func (e endpoint) id() string { return e.user + "@" + e.hostport() }

func (e endpoint) bastionName() string {
	return fmt.Sprintf("bastion %s (%s)", e.name, e.hostport())
}

// target resolves a host. ssh_config is looked up by the address, the
// name `ssh` would be given (Ansible gives it ansible_host, else the
// inventory name): an alias of ~/.ssh/config works as an address, and
// HostName then says where it is.
func (p *Pool) target(t Target) (endpoint, error) {
	alias := cmp.Or(t.Address, t.Name)
	h, err := p.SSHConfig.Lookup(alias)
	if err != nil {
		return endpoint{}, err
	}
	var keys []string
	switch {
	case t.KeyFile != "":
		keys = []string{t.KeyFile}
	case len(p.KeyFiles) > 0:
		keys = p.KeyFiles
	}
	return p.resolve(t.Name, alias, cmp.Or(t.User, p.User), t.Port, keys, cmp.Or(t.ProxyJump, h.ProxyJump), h)
}

// hop resolves a bastion of a ProxyJump. As with ssh -J, runbook's --user
// is not the bastion's (the jump's user@ is, else ssh_config's); its
// --private-key is tried, as ssh-agent's keys are.
func (p *Pool) hop(j sshconfig.Jump) (endpoint, error) {
	h, err := p.SSHConfig.Lookup(j.Host)
	if err != nil {
		return endpoint{}, err
	}
	return p.resolve(j.Host, j.Host, j.User, j.Port, p.KeyFiles, h.ProxyJump, h)
}

func (p *Pool) resolve(name, alias, user string, port int, keys []string, jump string, h sshconfig.Host) (endpoint, error) {
	e := endpoint{
		name: name, addr: cmp.Or(h.HostName, alias), port: cmp.Or(port, h.Port, 22),
		user: cmp.Or(user, h.User), keys: keys, jump: jump, from: h.From,
	}
	if e.user == "" {
		u, err := osuser.Current()
		if err != nil {
			return endpoint{}, fmt.Errorf("find the current user to connect to %s as: %w", name, err)
		}
		e.user = u.Username
	}
	tokens := sshconfig.Tokens{Alias: alias, Host: e.addr, Port: e.port, User: e.user}
	for _, f := range h.IdentityFiles {
		x, err := sshconfig.Expand(f, tokens)
		if err != nil {
			return endpoint{}, fmt.Errorf("IdentityFile of ssh config %s: %w", h.From, err)
		}
		e.configKeys = append(e.configKeys, x)
	}
	known := p.baseKeys()
	e.acceptNew = known.AcceptNew
	if !known.AcceptNew && (h.StrictHostKeyChecking == "accept-new" || h.StrictHostKeyChecking == "no") {
		// "no" is taken as accept-new: a changed key is refused all the
		// same, whatever ssh_config says.
		e.acceptNew, e.strictFrom = true, "StrictHostKeyChecking "+h.StrictHostKeyChecking
	}
	files := known.Files
	if len(h.KnownHostsFiles) > 0 && !known.Explicit {
		files = nil
		for _, f := range h.KnownHostsFiles {
			if strings.EqualFold(f, "none") {
				continue
			}
			x, err := sshconfig.Expand(f, tokens)
			if err != nil {
				return endpoint{}, fmt.Errorf("UserKnownHostsFile of ssh config %s: %w", h.From, err)
			}
			files = append(files, x)
		}
		files = append(files, globalKnownHosts)
	}
	e.known = p.knownHosts(files)
	return e, nil
}

// baseKeys is the run's host key policy: the pool's, else the user's
// known_hosts files, unknown keys refused.
func (p *Pool) baseKeys() *HostKeys {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Keys == nil {
		p.Keys = &HostKeys{Files: DefaultKnownHosts()}
	}
	return p.Keys
}

// knownHosts is the one HostKeys of the run for these files, so that a
// key recorded for one host is seen by the next.
func (p *Pool) knownHosts(files []string) *HostKeys {
	base := p.baseKeys()
	if slices.Equal(files, base.Files) {
		return base
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := strings.Join(files, "\x00")
	if k, ok := p.known[key]; ok {
		return k
	}
	if p.known == nil {
		p.known = map[string]*HostKeys{}
	}
	k := &HostKeys{Files: files}
	p.known[key] = k
	return k
}

// hostKeyCallback checks e's host key with e's policy. A key trusted
// because ssh_config says accept-new is logged, as ssh warns of it.
func (p *Pool) hostKeyCallback(e endpoint) ssh.HostKeyCallback {
	name := e.name
	var recorded func(fingerprint, file string)
	if e.strictFrom != "" {
		recorded = func(fingerprint, file string) {
			if p.Log != nil {
				p.Log.Warn("trusted a host key seen for the first time, as ssh config says",
					"host", name, "address", e.hostport(), "fingerprint", fingerprint,
					"recorded_in", file, "setting", e.strictFrom, "config", e.from)
			}
		}
	}
	return e.known.callback(name, e.acceptNew, recorded)
}

// chain is the bastions in front of e, the first connected to first. The
// first hop is reached as ssh reaches it, through its own ProxyJump if
// ssh_config gives it one; each later hop through the hop before it. seen
// holds the hops on the way here, which no hop may come back to.
func (p *Pool) chain(e endpoint, seen []string) ([]endpoint, error) {
	hops, err := sshconfig.ParseJumps(e.jump)
	if err != nil || len(hops) == 0 {
		return nil, err
	}
	seen = append(seen, e.id())
	var out []endpoint
	for i, j := range hops {
		h, err := p.hop(j)
		if err != nil {
			return nil, fmt.Errorf("bastion %s: %w", j, err)
		}
		if slices.Contains(seen, h.id()) {
			return nil, fmt.Errorf("ProxyJump loop: %s (%s) is reached through itself; exclude it from the Host pattern that gives the ProxyJump (Host * !%s)", h.name, h.id(), h.name)
		}
		if i == 0 {
			before, err := p.chain(h, seen)
			if err != nil {
				return nil, err
			}
			out = append(out, before...)
		}
		seen = append(seen, h.id())
		out = append(out, h)
	}
	return out, nil
}
