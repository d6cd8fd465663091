package sshtest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
)

// A Login is a real local user with a password that a test knows, for
// tests of becoming another user with sudo or su: sudo asks for the
// login user's own password, su for the target user's.
type Login struct {
	User     string
	Password string
	Home     string
}

// NewLogin makes sure the local user name exists (a system user with a
// home directory and /bin/sh) and gives it a fresh random password,
// through chpasswd's standard input, never an argument. When the test
// ends the password is locked again. Creating users needs root: the test
// is skipped without, and fails under CI. Tests in different packages
// run at once: each package uses names of its own.
func NewLogin(t testing.TB, name string) *Login {
	t.Helper()
	requireRoot(t, "creating a login user with a password")
	u, err := user.Lookup(name)
	if err != nil {
		out, err := exec.Command("useradd", "--system", "--create-home", "--shell", "/bin/sh", name).CombinedOutput()
		if err != nil && !bytes.Contains(out, []byte("already exists")) {
			t.Fatalf("useradd %s: %v: %s", name, err, out)
		}
		if u, err = user.Lookup(name); err != nil {
			t.Fatal(err)
		}
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	l := &Login{User: name, Password: "pw-" + hex.EncodeToString(b[:]), Home: u.HomeDir}
	cmd := exec.Command("chpasswd")
	cmd.Stdin = strings.NewReader(name + ":" + l.Password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chpasswd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("usermod", "--lock", name).Run() })
	return l
}

// RequireSudoPassword installs a sudoers drop-in that lets l run anything
// as anyone through sudo with its password, asked every time (no cached
// credentials), until the test ends.
func (l *Login) RequireSudoPassword(t testing.TB) {
	t.Helper()
	rule := l.User + " ALL=(ALL:ALL) ALL\nDefaults:" + l.User + " timestamp_timeout=0, !lecture\n"
	writeConf(t, filepath.Join("/etc/sudoers.d", l.User), rule, 0o440, "visudo", "-c", "-f")
}

// AllowLogin makes the server accept its client key for user too: sshd
// reads the authorized keys file as the user logging in.
func (s *Server) AllowLogin(t testing.TB, user string) {
	t.Helper()
	for p := s.Dir; p != os.TempDir() && p != "/" && p != "."; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Join(s.Dir, "authorized_keys"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Doas is where OpenDoas is installed on Debian.
const Doas = "/usr/bin/doas"

// SetDoasRules replaces /etc/doas.conf with rules until the test ends,
// when what was there (or nothing) is put back. It skips the test when
// doas is not installed, or fails it under CI, where `make setup`
// installs it.
func SetDoasRules(t testing.TB, rules string) {
	t.Helper()
	requireRoot(t, "changing /etc/doas.conf")
	if _, err := os.Stat(Doas); err != nil {
		msg := "SKIPPED: " + Doas + " is missing; install it with `make setup` (apt-get install doas)"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	writeConf(t, "/etc/doas.conf", rules, 0o600, Doas, "-C")
}

// writeConf writes a system configuration file for the test, once check
// (a command given the file's path last) accepts it, and puts back what
// was there when the test ends.
func writeConf(t testing.TB, path, content string, mode os.FileMode, check ...string) {
	t.Helper()
	old, readErr := os.ReadFile(path)
	oldInfo, _ := os.Stat(path)
	tmp := path + ".rbtest"
	if err := os.WriteFile(tmp, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(check[0], append(check[1:], tmp)...).CombinedOutput(); err != nil {
		os.Remove(tmp)
		t.Fatalf("%s rejects %q: %v: %s", check[0], content, err, out)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if readErr != nil {
			os.Remove(path)
			return
		}
		if err := os.WriteFile(path, old, oldInfo.Mode().Perm()); err != nil {
			t.Errorf("put back %s: %v", path, err)
		}
	})
}

func requireRoot(t testing.TB, what string) {
	t.Helper()
	Require(t)
	if os.Geteuid() != 0 {
		msg := "SKIPPED: " + what + " needs root"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}
