// Package sshtest starts real OpenSSH servers on 127.0.0.1 for tests, each
// with its own host key, accepting one generated client key for the
// current user.
package sshtest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/sshkeys"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Sshd is where OpenSSH's server is installed on Debian and Ubuntu.
const Sshd = "/usr/sbin/sshd"

// Server is a running sshd.
type Server struct {
	Addr       string // 127.0.0.1
	Port       int
	User       string
	KeyFile    string // the client's private key
	KnownHosts string // a known_hosts file holding this server's key
	HostKey    ssh.PublicKey
	Dir        string
	cmd        *exec.Cmd
	noSFTP     bool
	force      string
	extra      []string
}

// Require skips the test when sshd is not installed, loudly, or fails it
// under CI, where `make setup` must have installed it.
func Require(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(Sshd); err != nil {
		msg := "SKIPPED: these tests need a real OpenSSH server and " + Sshd + " is missing; install it with `make setup` (apt-get install openssh-server)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// Option changes the server's configuration.
type Option func(*Server)

// WithoutSFTP leaves out the SFTP subsystem, as some hardened hosts do.
func WithoutSFTP(s *Server) { s.noSFTP = true }

// WithForceCommand makes sshd run cmd for every session instead of the
// command asked for, as a host whose sessions never answer (a stuck login
// shell, a restricted account) does.
func WithForceCommand(cmd string) Option { return func(s *Server) { s.force = cmd } }

// WithConfig adds lines to the server's sshd_config, ahead of the
// defaults: sshd takes the first value of a keyword, so they win
// ("AllowTcpForwarding no", "LogLevel VERBOSE").
func WithConfig(lines ...string) Option {
	return func(s *Server) { s.extra = append(s.extra, lines...) }
}

// WithAddress makes the server listen on addr, another loopback address
// (127.0.0.2), instead of 127.0.0.1.
func WithAddress(addr string) Option { return func(s *Server) { s.Addr = addr } }

// Start starts an sshd that lives as long as the test.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	hostPub := writeKey(t, filepath.Join(dir, "host_key"))
	clientPub := writeKey(t, filepath.Join(dir, "client_key"))
	if err := os.WriteFile(filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientPub), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// sshd's privilege separation directory; a host without a running
		// sshd may not have it.
		_ = os.MkdirAll("/run/sshd", 0o755)
	}
	s := &Server{Addr: "127.0.0.1", User: u.Username, KeyFile: filepath.Join(dir, "client_key"), HostKey: hostPub, Dir: dir}
	for _, o := range opts {
		o(s)
	}
	var lastErr error
	for range 5 {
		s.Port = freePortOn(t, s.Addr)
		if lastErr = s.start(t); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatal(lastErr)
	}
	s.KnownHosts = filepath.Join(dir, "known_hosts")
	line := knownhosts.Line([]string{knownhosts.Normalize(s.Hostport())}, hostPub)
	if err := os.WriteFile(s.KnownHosts, []byte(line+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// Hostport is "127.0.0.1:port".
func (s *Server) Hostport() string { return net.JoinHostPort(s.Addr, fmt.Sprint(s.Port)) }

func (s *Server) start(t testing.TB) error {
	cfg := filepath.Join(s.Dir, "sshd_config")
	conf := strings.Join(append(slices.Clone(s.extra),
		fmt.Sprintf("Port %d", s.Port),
		"ListenAddress "+s.Addr,
		"HostKey "+filepath.Join(s.Dir, "host_key"),
		"PidFile "+filepath.Join(s.Dir, "sshd.pid"),
		"AuthorizedKeysFile "+filepath.Join(s.Dir, "authorized_keys"),
		"StrictModes no",
		"UsePAM no",
		"PasswordAuthentication no",
		"KbdInteractiveAuthentication no",
		"PubkeyAuthentication yes",
		"PermitRootLogin prohibit-password",
		map[bool]string{false: "Subsystem sftp internal-sftp", true: "# no sftp subsystem"}[s.noSFTP],
		map[bool]string{false: "ForceCommand " + s.force, true: "# no forced command"}[s.force == ""],
		// bash, as the login shell of a session command, reads ~/.bashrc
		// unless SHLVL says it runs under another shell: a developer's rc
		// file (pyenv's rehash waits up to a minute for a lock) must not
		// decide how long a test host takes to answer.
		"SetEnv SHLVL=1",
		"MaxSessions 64",
		"MaxStartups 512",
		"LogLevel ERROR",
	), "\n") + "\n"
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return err
	}
	log, err := os.Create(filepath.Join(s.Dir, "sshd.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(Sshd, "-D", "-e", "-f", cfg)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		log.Close()
		return fmt.Errorf("start sshd: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); log.Close(); close(exited) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.Hostport(), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			out, _ := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
			return fmt.Errorf("sshd exited at start: %s", out)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return fmt.Errorf("sshd did not listen on %s within 10s", s.Hostport())
		}
	}
	s.cmd = cmd
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})
	return nil
}

// Log is what sshd has logged so far (LogLevel ERROR unless WithConfig
// says otherwise).
func (s *Server) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "sshd.log"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// Freeze stops the server and every process it started (SIGSTOP), as a
// host that hangs or drops off the network without a word does: its
// connections stay open and nothing answers on them. The returned
// function, also run when the test ends, lets them go on.
func (s *Server) Freeze(t testing.TB) (thaw func()) {
	t.Helper()
	pids := descendants(s.cmd.Process.Pid)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGSTOP)
	}
	var once sync.Once
	thaw = func() {
		once.Do(func() {
			for _, pid := range pids {
				syscall.Kill(pid, syscall.SIGCONT)
			}
		})
	}
	t.Cleanup(thaw)
	return thaw
}

// Drop kills the server's side of every connection and what runs in them,
// as a host that reboots does, and goes on listening, as the host does once
// it is back.
func (s *Server) Drop(t testing.TB) {
	t.Helper()
	for _, pid := range descendants(s.cmd.Process.Pid)[1:] {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// descendants is pid and every process under it.
func descendants(pid int) []int {
	out := []int{pid}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		data, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(data)) {
			if child, err := strconv.Atoi(w); err == nil {
				out = append(out, descendants(child)...)
			}
		}
	}
	return out
}

// Stop kills the server, as a host that goes away would.
func (s *Server) Stop() {
	if s.cmd != nil {
		s.cmd.Process.Kill()
		s.cmd.Process.Wait()
	}
}

// Inventory writes a static inventory in which every name is a host
// reached through this server, and returns its path.
func (s *Server) Inventory(t testing.TB, names ...string) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "defaults:\n  address: %s\n  port: %d\n  user: %s\n  key: %s\nhosts:\n", s.Addr, s.Port, s.User, s.KeyFile)
	for _, n := range names {
		fmt.Fprintf(&b, "  %s:\n", n)
	}
	p := filepath.Join(t.TempDir(), "hosts.yaml")
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Tarpit listens on 127.0.0.1 and accepts connections but never says a
// word, as a stuck sshd or a tarpit does; it returns the port. The
// connections are closed when the test ends, so that a client still
// waiting on one is let go.
func Tarpit(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().(*net.TCPAddr).Port
}

// FreePort returns a port on 127.0.0.1 that nothing listens on.
func FreePort(t testing.TB) int { return freePort(t) }

func freePort(t testing.TB) int { return freePortOn(t, "127.0.0.1") }

func freePortOn(t testing.TB, addr string) int {
	l, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func writeKey(t testing.TB, path string) ssh.PublicKey {
	pk, err := sshkeys.Generate(path, "")
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// Processes returns the pids of the processes named comm (as in
// /proc/PID/comm) that run below this server's sshd: what its sessions
// started.
func (s *Server) Processes(t testing.TB, comm string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	parent := func(pid int) int {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			return 0
		}
		// pid (comm) state ppid ...: comm may hold spaces and parentheses.
		fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
		if len(fields) < 2 {
			return 0
		}
		ppid, _ := strconv.Atoi(fields[1])
		return ppid
	}
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		name, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(name)) != comm {
			continue
		}
		for p := parent(pid); p > 1; p = parent(p) {
			if p == s.cmd.Process.Pid {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}
