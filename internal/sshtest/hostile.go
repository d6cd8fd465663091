package sshtest

import (
	"bytes"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// HostileUser is the name of the unprivileged local user that tests play
// an attacker with.
const HostileUser = "rb-hostile"

// Hostile is a real unprivileged local user on the host (this machine, as
// the sshtest servers are on it), for tests that play an attacker: another
// user of a managed host, or a service's own account.
type Hostile struct {
	User     string
	UID, GID int
}

var hostileOnce sync.Mutex

// NewHostile makes sure the hostile user exists (creating it needs root:
// the test is skipped without, and fails under CI).
func NewHostile(t testing.TB) *Hostile {
	t.Helper()
	Require(t)
	if os.Geteuid() != 0 {
		msg := "SKIPPED: playing a hostile local user needs root (to create it and to act as root against it)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	hostileOnce.Lock()
	defer hostileOnce.Unlock()
	u, err := user.Lookup(HostileUser)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", HostileUser).CombinedOutput()
		if err != nil && !bytes.Contains(out, []byte("already exists")) {
			t.Fatalf("useradd %s: %v: %s", HostileUser, err, out)
		}
		if u, err = user.Lookup(HostileUser); err != nil {
			t.Fatal(err)
		}
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &Hostile{User: u.Username, UID: uid, GID: gid}
}

// Dir returns a new directory that every user can reach (t.TempDir is
// not: its parents are private), owned by root and mode 0755.
func (h *Hostile) Dir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for p := d; p != os.TempDir() && p != "/" && p != "."; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// Own gives path to the hostile user.
func (h *Hostile) Own(t testing.TB, path string) {
	t.Helper()
	if err := os.Lchown(path, h.UID, h.GID); err != nil {
		t.Fatal(err)
	}
}

// Start runs script with sh as the hostile user until the test ends (it
// is killed then, with what it started).
func (h *Hostile) Start(t testing.TB, script string) {
	t.Helper()
	cmd := h.command(script)
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the hostile process: %v", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	})
}

// Run runs script with sh as the hostile user and returns its output.
func (h *Hostile) Run(t testing.TB, script string) string {
	t.Helper()
	out, err := h.command(script).CombinedOutput()
	if err != nil {
		t.Fatalf("hostile %q: %v: %s", script, err, out)
	}
	return string(out)
}

func (h *Hostile) command(script string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = "/"
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(h.UID), Gid: uint32(h.GID), Groups: []uint32{}},
		Setpgid:    true,
	}
	return cmd
}
