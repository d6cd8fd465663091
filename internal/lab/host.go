package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/runbookdev/runbook/internal/poll"
	"github.com/runbookdev/runbook/internal/sshkeys"
)

// Kinds of host.
const (
	Full  = "full"  // systemd as PID 1, like a real server
	Light = "light" // sshd alone, for tests and benchmarks with many hosts
)

// Host is one lab machine. Its state is kept in its directory, so any lab
// process can find, stop or remove it.
type Host struct {
	Name    string     `json:"name"`
	Index   int        `json:"index"`
	Kind    string     `json:"kind"`
	Public  netip.Addr `json:"public"`
	Private netip.Addr `json:"private"`
	PID     int        `json:"pid"`     // the supervisor of systemd-nspawn (see supervisor), while running
	HostKey string     `json:"hostkey"` // its SSH host key, authorized_keys format
	Tags    []string   `json:"tags,omitempty"`

	dir string
}

// Root is the host's file system as the machine sees it (its overlay,
// mounted while the lab has the host).
func (h *Host) Root() string { return h.root() }

// ConsoleLog is where the machine's console (a light host's sshd log) goes.
func (h *Host) ConsoleLog() string { return filepath.Join(h.dir, "console.log") }

// Running reports whether the host's machine runs.
func (h *Host) Running() bool { return alive(h.PID) }

func (h *Host) root() string  { return filepath.Join(h.dir, "root") }
func (h *Host) state() string { return filepath.Join(h.dir, "host.json") }

func (h *Host) save() error {
	data, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	tmp := h.state() + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, h.state())
}

func loadHost(dir string) (*Host, error) {
	data, err := os.ReadFile(filepath.Join(dir, "host.json"))
	if err != nil {
		return nil, err
	}
	h := &Host{dir: dir}
	if err := json.Unmarshal(data, h); err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return h, nil
}

// netns is the host's network namespace name.
func (l *Lab) netns(h *Host) string { return fmt.Sprintf("%s-%s", l.cfg.Prefix, h.Name) }

// veth names the host's end of a link on the machine; at most 15 bytes.
func (l *Lab) veth(h *Host, net string) string {
	return fmt.Sprintf("%s%d%s", l.cfg.Prefix, h.Index, net)
}

// PrivateLink is the machine's end of the host's link to the private
// network: the wire to capture its traffic on.
func (l *Lab) PrivateLink(h *Host) string { return l.veth(h, "q") }

// mount makes the host's root: the shared rootfs below, its own layer on top.
func (l *Lab) mount(ctx context.Context, h *Host) error {
	if mounted(h.root()) {
		return nil
	}
	for _, d := range []string{"upper", "work", "root"} {
		if err := os.MkdirAll(filepath.Join(h.dir, d), 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", l.rootfs, filepath.Join(h.dir, "upper"), filepath.Join(h.dir, "work"))
	return run(ctx, "mount", "-t", "overlay", "overlay", "-o", opts, h.root())
}

// identity writes what makes the host itself: name, SSH host key, the
// keys allowed to log in as root.
func (l *Lab) identity(h *Host, authorized []string) error {
	root := h.root()
	files := map[string]string{
		// VERBOSE logs every connection and session: the benchmark counts them.
		"etc/ssh/sshd_config.d/runbook-lab-log.conf": "LogLevel VERBOSE\n",
		"etc/hostname": h.Name + "\n",
		"etc/hosts":    fmt.Sprintf("127.0.0.1 localhost\n::1 localhost\n127.0.1.1 %s\n", h.Name),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(root, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	pub, err := sshkeys.Generate(filepath.Join(root, "etc/ssh/ssh_host_ed25519_key"), "root@"+h.Name)
	if err != nil {
		return err
	}
	h.HostKey = strings.TrimSpace(string(marshal(pub)))
	return writeAuthorized(root, authorized)
}

func writeAuthorized(root string, keys []string) error {
	dir := filepath.Join(root, "root/.ssh")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(strings.Join(keys, "\n")+"\n"), 0o600)
}

// plug gives the host its network namespace, linked to the public bridge
// (with a default route through the machine) and to the private one.
func (l *Lab) plug(ctx context.Context, h *Host) error {
	ns := l.netns(h)
	if _, err := os.Stat("/run/netns/" + ns); err == nil {
		return nil
	}
	if err := run(ctx, "ip", "netns", "add", ns); err != nil {
		return err
	}
	links := []struct {
		bridge, suffix, ifname string
		addr                   netip.Addr
		prefix                 netip.Prefix
	}{
		{l.bridge("pub"), "p", "eth0", h.Public, l.cfg.Public},
		{l.bridge("priv"), "q", "eth1", h.Private, l.cfg.Private},
	}
	for _, ln := range links {
		outside, inside := l.veth(h, ln.suffix), l.veth(h, ln.suffix)+"x"
		steps := [][]string{
			{"link", "add", outside, "type", "veth", "peer", "name", inside},
			{"link", "set", outside, "master", ln.bridge, "up"},
			{"link", "set", inside, "netns", ns},
			{"-n", ns, "link", "set", inside, "name", ln.ifname},
			{"-n", ns, "addr", "add", fmt.Sprintf("%s/%d", ln.addr, ln.prefix.Bits()), "dev", ln.ifname},
			{"-n", ns, "link", "set", ln.ifname, "up"},
		}
		for _, args := range steps {
			if err := run(ctx, "ip", args...); err != nil {
				return err
			}
		}
	}
	if err := run(ctx, "ip", "-n", ns, "link", "set", "lo", "up"); err != nil {
		return err
	}
	return run(ctx, "ip", "-n", ns, "route", "add", "default", "via", gateway(l.cfg.Public).String())
}

// boot starts the host's machine, detached from this process so that it
// outlives it, and waits until its sshd answers.
func (l *Lab) boot(ctx context.Context, h *Host) error {
	if h.Running() {
		return nil
	}
	// The host's network namespace is its own, as a bare-metal host's
	// network is: it may configure it (CAP_NET_ADMIN: nftables, routes;
	// /proc/sys/net writable: net.* sysctls), which nspawn allows only
	// for networks it made itself unless told. The rest of /proc/sys,
	// shared with this machine, stays read-only.
	args := []string{"-q", "-D", h.root(), "--register=no", "--keep-unit",
		"--network-namespace-path=/run/netns/" + l.netns(h), "--machine=" + h.Name,
		"--capability=CAP_NET_ADMIN"}
	if h.Kind == Full {
		args = append(args, "-b")
	} else {
		args = append(args, "--as-pid2", "/bin/sh", "-c", "mkdir -p /run/sshd && exec /usr/sbin/sshd -D -e")
	}
	logf, err := os.OpenFile(filepath.Join(h.dir, "console.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	// The supervisor, not nspawn, is the machine's process: a reboot
	// inside the machine ends nspawn with 133, and the machine starts
	// again, as a real one does.
	cmd := exec.Command("/bin/sh", append([]string{"-c", supervisor, supervisorName, "systemd-nspawn"}, args...)...)
	cmd.Env = append(os.Environ(), "SYSTEMD_NSPAWN_API_VFS_WRITABLE=network")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("boot %s: %w", h.Name, err)
	}
	h.PID = cmd.Process.Pid
	// Reap it if it ends while this process lives; otherwise init will.
	go cmd.Wait()
	if err := h.save(); err != nil {
		return err
	}
	return l.waitSSH(ctx, h)
}

// waitSSH waits until the host's sshd sends its banner.
func (l *Lab) waitSSH(ctx context.Context, h *Host) error {
	addr := netip.AddrPortFrom(h.Public, 22).String()
	_, _, err := poll.Until(ctx, l.cfg.BootTimeout, 100*time.Millisecond, func(context.Context) (bool, string, error) {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, 8)
			n, _ := conn.Read(buf)
			conn.Close()
			if strings.HasPrefix(string(buf[:n]), "SSH-") {
				return true, "", nil
			}
		}
		if !h.Running() {
			log, _ := os.ReadFile(filepath.Join(h.dir, "console.log"))
			return false, "", fmt.Errorf("boot %s: the machine stopped: %s", h.Name, tail(string(log), 15))
		}
		return false, "", nil
	})
	if errors.Is(err, poll.ErrGaveUp) {
		return fmt.Errorf("boot %s: sshd did not answer on %s within %s", h.Name, addr, l.cfg.BootTimeout)
	}
	return err
}

// supervisor runs the machine (nspawn, its arguments after $0) and runs
// it again when it ends with 133, which is how nspawn reports that the
// machine rebooted; anything else, or a SIGTERM (passed on to nspawn, which
// shuts the machine down), ends it for good with nspawn's status. wait is
// interrupted by a trapped signal, so it is repeated until nspawn is gone.
const supervisor = `stop=
trap 'stop=1; [ -n "$child" ] && kill -TERM "$child" 2>/dev/null' TERM INT
while :; do
	child=
	"$@" &
	child=$!
	[ -n "$stop" ] && kill -TERM "$child" 2>/dev/null
	while :; do
		wait "$child"
		rc=$?
		kill -0 "$child" 2>/dev/null || break
	done
	[ -z "$stop" ] && [ "$rc" -eq 133 ] || exit "$rc"
done`

// supervisorName is the supervisor's $0: its command line says what it is,
// beside systemd-nspawn's.
const supervisorName = "runbook-lab-machine"

// isMachine tells the command line of a lab machine's process: the
// supervisor, or nspawn itself for a machine booted before there was one.
func isMachine(cmd string) bool {
	return strings.HasPrefix(cmd, "systemd-nspawn ") ||
		strings.HasPrefix(cmd, "/bin/sh -c ") && strings.Contains(cmd, " "+supervisorName+" systemd-nspawn ")
}

// nspawn is the pid of the host's systemd-nspawn: the supervisor's child,
// or h.PID itself for a machine booted before there was one; 0 if none runs.
func (h *Host) nspawn() int {
	if strings.HasPrefix(cmdline(h.PID), "systemd-nspawn ") {
		return h.PID
	}
	for _, pid := range pids() {
		if parent(pid) == h.PID && strings.HasPrefix(cmdline(pid), "systemd-nspawn ") && alive(pid) {
			return pid
		}
	}
	return 0
}

// cut stops the machine at once, as pulling its power would: its init is
// killed, and with it everything in its PID namespace; nothing shuts down
// cleanly (a Consul agent does not leave its cluster). The disk stays.
func (l *Lab) cut(ctx context.Context, h *Host) error {
	if h.Running() && isMachine(cmdline(h.PID)) {
		if n := h.nspawn(); n != 0 {
			for _, pid := range pids() {
				if parent(pid) == n {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	return l.halt(ctx, h)
}

// halt stops the machine: cleanly (systemd shuts down), or killed after
// the grace period. The disk stays.
func (l *Lab) halt(ctx context.Context, h *Host) error {
	if !h.Running() {
		h.PID = 0
		return h.save()
	}
	if !isMachine(cmdline(h.PID)) {
		h.PID = 0 // the pid was reused: the machine is long gone
		return h.save()
	}
	stopped := func(context.Context) (bool, string, error) { return !h.Running(), "", nil }
	syscall.Kill(h.PID, syscall.SIGTERM)
	poll.Until(ctx, 30*time.Second, 50*time.Millisecond, stopped)
	if h.Running() {
		// The supervisor first, so that it starts nothing again; then
		// nspawn's children (the machine's init) and nspawn.
		n := h.nspawn()
		syscall.Kill(h.PID, syscall.SIGKILL)
		if n != 0 && n != h.PID {
			for _, pid := range pids() {
				if parent(pid) == n {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			}
			syscall.Kill(n, syscall.SIGKILL)
		}
		// Even when cancelled: the kill takes a moment, and the pid is
		// forgotten next.
		poll.Until(context.WithoutCancel(ctx), 2*time.Second, 20*time.Millisecond, stopped)
	}
	h.PID = 0
	return h.save()
}

// remove destroys the host: machine, network, mount and disk.
func (l *Lab) remove(ctx context.Context, h *Host) error {
	if err := l.halt(ctx, h); err != nil {
		return err
	}
	if mounted(h.root()) {
		if err := run(ctx, "umount", h.root()); err != nil {
			if err := run(ctx, "umount", "-l", h.root()); err != nil {
				return err
			}
		}
	}
	if _, err := os.Stat("/run/netns/" + l.netns(h)); err == nil {
		if err := run(ctx, "ip", "netns", "del", l.netns(h)); err != nil {
			return err
		}
	}
	for _, s := range []string{"p", "q"} {
		if _, err := net.InterfaceByName(l.veth(h, s)); err == nil {
			run(ctx, "ip", "link", "del", l.veth(h, s))
		}
	}
	return os.RemoveAll(h.dir)
}

func mounted(p string) bool {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}
