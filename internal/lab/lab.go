// Package lab runs real Linux hosts on this machine: systemd-nspawn
// machines, each in its own network namespace on two lab networks (public
// and private), each on its own overlay over one cached Debian rootfs.
// Everything it creates carries its prefix, so Down can find and remove
// all of it, even after a crash.
package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/runbookdev/runbook/internal/sshkeys"
	"golang.org/x/crypto/ssh"
)

// Config says where a lab keeps its things and which names and addresses
// it uses. Two labs with different prefixes and networks can run at once.
type Config struct {
	StateDir    string       // hosts' disks and state; default /var/lib/runbook/lab
	CacheDir    string       // the rootfs; default /var/cache/runbook
	Prefix      string       // of every name it creates (netns, links); at most 8 bytes
	Public      netip.Prefix // default 10.77.1.0/24; the machine is .1
	Private     netip.Prefix // default 10.77.2.0/24
	BootTimeout time.Duration
}

// DefaultConfig is the lab that `runbook lab` manages.
func DefaultConfig() Config {
	return Config{
		StateDir: "/var/lib/runbook/lab", CacheDir: "/var/cache/runbook", Prefix: "rbk",
		Public: netip.MustParsePrefix("10.77.1.0/24"), Private: netip.MustParsePrefix("10.77.2.0/24"),
		BootTimeout: 60 * time.Second,
	}
}

// Lab is an opened lab.
type Lab struct {
	cfg    Config
	rootfs string
}

// ErrNotRoot is returned when the lab is used without root.
var ErrNotRoot = errors.New("the lab needs root: it creates network namespaces, bridges, mounts and machines")

// Open prepares a lab: checks for root, builds or finds the rootfs,
// creates the bridges and the controller's key. progress, if not nil,
// hears about slow steps.
func Open(ctx context.Context, cfg Config, progress func(string)) (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	if len(cfg.Prefix) == 0 || len(cfg.Prefix) > 8 {
		return nil, fmt.Errorf("lab prefix %q: want 1 to 8 characters", cfg.Prefix)
	}
	if cfg.BootTimeout == 0 {
		cfg.BootTimeout = 60 * time.Second
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "hosts"), 0o755); err != nil {
		return nil, err
	}
	l := &Lab{cfg: cfg}
	rootfs, err := EnsureRootfs(ctx, cfg.CacheDir, progress)
	if err != nil {
		return nil, err
	}
	l.rootfs = rootfs
	if _, err := sshkeys.Ensure(l.KeyFile(), "runbook-lab"); err != nil {
		return nil, err
	}
	for _, b := range []struct {
		name string
		gw   netip.Prefix
	}{{l.bridge("pub"), l.cfg.Public}, {l.bridge("priv"), netip.Prefix{}}} {
		if err := ensureBridge(ctx, b.name, b.gw); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Attach opens a lab without preparing anything: for looking at it and
// taking it down.
func Attach(cfg Config) (*Lab, error) {
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	return &Lab{cfg: cfg}, nil
}

// Config is the lab's configuration.
func (l *Lab) Config() Config { return l.cfg }

// KeyFile is the private key the controller logs in to lab hosts with.
func (l *Lab) KeyFile() string { return filepath.Join(l.cfg.StateDir, "id_ed25519") }

func (l *Lab) bridge(net string) string { return l.cfg.Prefix + "-" + net }

func gateway(p netip.Prefix) netip.Addr { return p.Masked().Addr().Next() }

// ensureBridge creates a bridge; with gw set, the machine takes the
// network's first address on it, so it reaches the hosts (and nothing else
// is routed: hosts reach only each other and the machine).
func ensureBridge(ctx context.Context, name string, gw netip.Prefix) error {
	if _, err := net.InterfaceByName(name); err == nil {
		return nil
	}
	if err := run(ctx, "ip", "link", "add", name, "type", "bridge"); err != nil {
		return err
	}
	if gw.IsValid() {
		if err := run(ctx, "ip", "addr", "add", fmt.Sprintf("%s/%d", gateway(gw), gw.Bits()), "dev", name); err != nil {
			return err
		}
	}
	// Whatever the machine does for its own interfaces, nothing that comes
	// in from the lab is forwarded beyond it: hosts reach the machine and
	// each other, never another network.
	if err := os.WriteFile("/proc/sys/net/ipv4/conf/"+name+"/forwarding", []byte("0\n"), 0o644); err != nil {
		return fmt.Errorf("turn off forwarding on %s: %w", name, err)
	}
	return run(ctx, "ip", "link", "set", name, "up")
}

// Spec is a host to create.
type Spec struct {
	Name       string
	Kind       string   // Full or Light
	Authorized []string // public keys allowed to log in as root, beside the lab's
	Tags       []string
}

// Create makes, boots and waits for a host; it returns once sshd answers.
// A host that fails to come up is removed again.
func (l *Lab) Create(ctx context.Context, spec Spec) (*Host, error) {
	if !ValidName(spec.Name) {
		return nil, fmt.Errorf("host name %q: use lower-case letters, digits and - (at most 40)", spec.Name)
	}
	h, err := l.reserve(ctx, spec)
	if err != nil {
		return nil, err
	}
	if err := l.build(ctx, h, spec); err != nil {
		rmErr := l.remove(context.WithoutCancel(ctx), h)
		return nil, errors.Join(err, rmErr, l.writeKnownHosts())
	}
	return h, l.writeKnownHosts()
}

// KnownHostsFile lists the SSH host keys of every lab host, kept up to date
// as hosts come and go: the lab made the keys, so nothing is trusted blindly.
func (l *Lab) KnownHostsFile() string { return filepath.Join(l.cfg.StateDir, "known_hosts") }

func (l *Lab) writeKnownHosts() error {
	unlock, err := flock(context.Background(), filepath.Join(l.cfg.StateDir, "lock"))
	if err != nil {
		return err
	}
	defer unlock()
	hosts, err := l.Hosts()
	if err != nil {
		return err
	}
	var ready []*Host
	for _, h := range hosts {
		if h.HostKey != "" {
			ready = append(ready, h)
		}
	}
	tmp := l.KnownHostsFile() + ".tmp"
	if err := WriteKnownHosts(tmp, ready); err != nil {
		return err
	}
	return os.Rename(tmp, l.KnownHostsFile())
}

func (l *Lab) build(ctx context.Context, h *Host, spec Spec) error {
	if err := l.mount(ctx, h); err != nil {
		return err
	}
	pub, err := os.ReadFile(l.KeyFile() + ".pub")
	if err != nil {
		return err
	}
	keys := append([]string{strings.TrimSpace(string(pub))}, spec.Authorized...)
	if err := l.identity(h, keys); err != nil {
		return err
	}
	if err := h.save(); err != nil {
		return err
	}
	if err := l.plug(ctx, h); err != nil {
		return err
	}
	return l.boot(ctx, h)
}

// reserve picks the host's index and addresses under the lab's lock and
// records it, so concurrent creators never share an address.
func (l *Lab) reserve(ctx context.Context, spec Spec) (*Host, error) {
	unlock, err := flock(ctx, filepath.Join(l.cfg.StateDir, "lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	hosts, err := l.Hosts()
	if err != nil {
		return nil, err
	}
	used := map[int]bool{}
	for _, h := range hosts {
		if h.Name == spec.Name {
			return nil, fmt.Errorf("lab host %q exists already", spec.Name)
		}
		used[h.Index] = true
	}
	idx := 1
	for used[idx] {
		idx++
	}
	pub, priv := nth(l.cfg.Public, idx+1), nth(l.cfg.Private, idx+1)
	if !l.cfg.Public.Contains(pub) || !l.cfg.Private.Contains(priv) || idx > 250 {
		return nil, fmt.Errorf("the lab is full: %d hosts", len(hosts))
	}
	kind := spec.Kind
	if kind == "" {
		kind = Full
	}
	h := &Host{Name: spec.Name, Index: idx, Kind: kind, Public: pub, Private: priv, Tags: spec.Tags,
		dir: filepath.Join(l.cfg.StateDir, "hosts", spec.Name)}
	if err := os.MkdirAll(h.dir, 0o755); err != nil {
		return nil, err
	}
	return h, h.save()
}

func nth(p netip.Prefix, n int) netip.Addr {
	a := p.Masked().Addr()
	for range n {
		a = a.Next()
	}
	return a
}

// ValidName reports whether s can name a lab host: lower-case letters,
// digits and -, at most 40.
func ValidName(s string) bool {
	if s == "" || len(s) > 40 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// Host finds a host by name.
func (l *Lab) Host(name string) (*Host, error) {
	if !ValidName(name) {
		return nil, fmt.Errorf("no lab host %q", name)
	}
	h, err := loadHost(filepath.Join(l.cfg.StateDir, "hosts", name))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("no lab host %q", name)
	}
	return h, err
}

// Hosts lists the lab's hosts by index.
func (l *Lab) Hosts() ([]*Host, error) {
	dirs, err := filepath.Glob(filepath.Join(l.cfg.StateDir, "hosts", "*"))
	if err != nil {
		return nil, err
	}
	var out []*Host
	for _, d := range dirs {
		h, err := loadHost(d)
		if errors.Is(err, os.ErrNotExist) {
			continue // being created or removed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	slices.SortFunc(out, func(a, b *Host) int { return a.Index - b.Index })
	return out, nil
}

// Stop shuts a host down cleanly; its disk stays.
func (l *Lab) Stop(ctx context.Context, name string) error {
	h, err := l.Host(name)
	if err != nil {
		return err
	}
	return l.halt(ctx, h)
}

// PowerOff cuts a host's power: it stops at once, without shutting down,
// as a server does when its power is cut. Its disk stays.
func (l *Lab) PowerOff(ctx context.Context, name string) error {
	h, err := l.Host(name)
	if err != nil {
		return err
	}
	return l.cut(ctx, h)
}

// Start powers a stopped host on again, with its disk as it was.
func (l *Lab) Start(ctx context.Context, name string) error {
	h, err := l.Host(name)
	if err != nil {
		return err
	}
	if err := l.mount(ctx, h); err != nil {
		return err
	}
	if err := l.plug(ctx, h); err != nil {
		return err
	}
	return l.boot(ctx, h)
}

// Remove destroys a host and its disk.
func (l *Lab) Remove(ctx context.Context, name string) error {
	h, err := l.Host(name)
	if err != nil {
		return err
	}
	return errors.Join(l.remove(ctx, h), l.writeKnownHosts())
}

// SetAuthorized replaces the keys allowed to log in as root on a host
// (beside the lab's), as a cloud does for project keys at provisioning.
func (l *Lab) SetAuthorized(name string, keys []string) error {
	h, err := l.Host(name)
	if err != nil {
		return err
	}
	pub, err := os.ReadFile(l.KeyFile() + ".pub")
	if err != nil {
		return err
	}
	return writeAuthorized(h.root(), append([]string{strings.TrimSpace(string(pub))}, keys...))
}

// Memory is the resident memory of a running host's processes, in bytes.
func (l *Lab) Memory(h *Host) int64 {
	if !h.Running() {
		return 0
	}
	return treeRSS(h.PID)
}

// Down removes every host and everything the lab made on the machine:
// machines, namespaces, links, bridges, mounts and state. It also sweeps
// leftovers of a lab that crashed.
func (l *Lab) Down(ctx context.Context) error {
	hosts, err := l.Hosts()
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range hosts {
		if err := l.remove(ctx, h); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", h.Name, err))
		}
	}
	errs = append(errs, l.sweep(ctx)...)
	os.Remove(l.KnownHostsFile())
	return errors.Join(errs...)
}

// sweep removes whatever carries the lab's names but belongs to no host.
func (l *Lab) sweep(ctx context.Context) []error {
	var errs []error
	left := l.Leftovers()
	for _, pid := range left.Processes {
		if p, err := os.FindProcess(pid); err == nil {
			p.Kill()
		}
	}
	for _, m := range left.Mounts {
		if err := run(ctx, "umount", "-l", m); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ns := range left.Namespaces {
		if err := run(ctx, "ip", "netns", "del", ns); err != nil {
			errs = append(errs, err)
		}
	}
	for _, link := range left.Links {
		if err := run(ctx, "ip", "link", "del", link); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// Leftovers is what the lab has on the machine.
type Leftovers struct {
	Processes  []int
	Mounts     []string
	Namespaces []string
	Links      []string
}

// Empty reports whether nothing is left.
func (x Leftovers) Empty() bool {
	return len(x.Processes)+len(x.Mounts)+len(x.Namespaces)+len(x.Links) == 0
}

func (x Leftovers) String() string {
	return fmt.Sprintf("processes %v, mounts %v, namespaces %v, links %v", x.Processes, x.Mounts, x.Namespaces, x.Links)
}

// Leftovers lists the lab's processes, mounts, namespaces and links.
func (l *Lab) Leftovers() Leftovers {
	var x Leftovers
	hostsDir := filepath.Join(l.cfg.StateDir, "hosts") + "/"
	for _, pid := range pids() {
		if c := cmdline(pid); isMachine(c) && strings.Contains(c, hostsDir) && alive(pid) {
			x.Processes = append(x.Processes, pid)
		}
	}
	if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], hostsDir) {
				x.Mounts = append(x.Mounts, f[4])
			}
		}
	}
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), l.cfg.Prefix+"-") {
			x.Namespaces = append(x.Namespaces, e.Name())
		}
	}
	ifaces, _ := net.Interfaces()
	for _, i := range ifaces {
		if strings.HasPrefix(i.Name, l.cfg.Prefix) && isLabLink(strings.TrimPrefix(i.Name, l.cfg.Prefix)) {
			x.Links = append(x.Links, i.Name)
		}
	}
	return x
}

// isLabLink tells the lab's link names (after the prefix): "-pub",
// "-priv", and veths "<index>p" / "<index>q".
func isLabLink(rest string) bool {
	if rest == "-pub" || rest == "-priv" {
		return true
	}
	if len(rest) < 2 || (rest[len(rest)-1] != 'p' && rest[len(rest)-1] != 'q') {
		return false
	}
	for _, r := range rest[:len(rest)-1] {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func marshal(pk ssh.PublicKey) []byte { return ssh.MarshalAuthorizedKey(pk) }
