package authorizedkey_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/authorizedkey"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"golang.org/x/crypto/ssh"
)

// account is a throwaway local user that a test creates, with a home of
// its own under a temporary directory, and removes when it ends.
type account struct {
	name     string
	uid, gid int
	home     string
}

func newAccount(t *testing.T) *account {
	t.Helper()
	if os.Geteuid() != 0 {
		msg := "SKIPPED: creating a user to manage the keys of needs root"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var b [3]byte
	rand.Read(b[:])
	name := "rb-ak-" + hex.EncodeToString(b[:])
	// t.TempDir's parents are private: the user could not reach a home
	// under them.
	top := t.TempDir()
	for p := top; p != os.TempDir() && p != "/" && p != "."; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	home := filepath.Join(top, name)
	if out, err := exec.Command("useradd", "--system", "--user-group", "--no-create-home", "--home-dir", home, "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
			t.Errorf("userdel %s: %v: %s", name, err, out)
		}
	})
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	a := &account{name: name, home: home}
	a.uid, _ = strconv.Atoi(u.Uid)
	a.gid, _ = strconv.Atoi(u.Gid)
	must(t, os.Mkdir(home, 0o755))
	must(t, os.Chown(home, a.uid, a.gid))
	return a
}

// sh runs script as the user: a real unprivileged process.
func (a *account) sh(t *testing.T, script string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = a.home
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: []uint32{}}}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as %s: %q: %v: %s", a.name, script, err, out)
	}
}

func (a *account) keys() string { return filepath.Join(a.home, ".ssh", "authorized_keys") }

// newKey is a fresh public key line, without a comment.
func newKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	must(t, err)
	k, err := ssh.NewPublicKey(pub)
	must(t, err)
	return string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(k)))
}

func TestAuthorizedKeyTimeline(t *testing.T) {
	env := tasktest.New(t)
	u := newAccount(t)
	laptop, deploy, other := newKey(t), newKey(t), newKey(t)
	rb := func(deployOptions string) string {
		return fmt.Sprintf(`
steps:
  - {name: laptop, hosts: h1, task: authorized_key, with: {user: %[1]s, key: "%[2]s alice@laptop"}}
  - {name: deploy, hosts: h1, task: authorized_key, with: {user: %[1]s, key: "%[3]s", options: '%[4]s', comment: deploy}}
`, u.name, laptop, deploy, deployOptions)
	}
	const opts = `from="10.0.0.0/8",no-agent-forwarding`
	before := tasktest.Snapshot(t, u.home)
	r := env.Apply(rb(opts), "--check", "--diff")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(r.Result("laptop").Diff, "+"+laptop+" alice@laptop") {
		t.Fatalf("first check: %s", r)
	}
	if tasktest.Snapshot(t, u.home) != before {
		t.Fatal("check mode changed the host")
	}
	if r = env.Apply(rb(opts)); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	want := laptop + " alice@laptop\n" + opts + " " + deploy + " deploy\n"
	u.expect(t, want, 0o600)
	if r = env.Apply(rb(opts), "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}

	// By hand: the laptop key gets options, the deploy key's line goes, and
	// a key of the user's own is added.
	u.sh(t, fmt.Sprintf("printf '%%s\\n' %q %q >.ssh/authorized_keys", "no-pty "+laptop+" alice@laptop", other+" own"))
	r = env.Apply(rb(opts), "--check")
	st := r.Statuses()
	if r.Exit != tasktest.ExitDrift || st["laptop"] != engine.Changed || st["deploy"] != engine.Changed {
		t.Fatalf("drift: %v\n%s", st, r)
	}
	if c := r.Result("laptop").Changes; len(c) != 1 || !strings.Contains(c[0], `~ options of key ssh-ed25519`) {
		t.Errorf("laptop drift reported as %q", c)
	}
	if r = env.Apply(rb(opts)); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply after drift: %s", r)
	}
	u.expect(t, laptop+" alice@laptop\n"+other+" own\n"+opts+" "+deploy+" deploy\n", 0o600)

	// Options change in place.
	if r = env.Apply(rb("no-pty")); r.Exit != tasktest.ExitOK || r.Statuses()["laptop"] != engine.OK || r.Statuses()["deploy"] != engine.Changed {
		t.Fatalf("options change: %s", r)
	}
	u.expect(t, laptop+" alice@laptop\n"+other+" own\nno-pty "+deploy+" deploy\n", 0o600)

	// Absent.
	absent := fmt.Sprintf("steps:\n  - {name: gone, hosts: h1, task: authorized_key, with: {user: %s, key: %q, state: absent}}\n", u.name, laptop)
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("absent check: %s", r)
	}
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent: %s", r)
	}
	u.expect(t, other+" own\nno-pty "+deploy+" deploy\n", 0o600)
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent again: %s", r)
	}

	// Exclusive: only this step's key stays, with the comments.
	u.sh(t, "chmod 0640 .ssh/authorized_keys && echo '# managed by runbook' >>.ssh/authorized_keys")
	exclusive := fmt.Sprintf("steps:\n  - {name: only, hosts: h1, task: authorized_key, with: {user: %s, key: %q, options: no-pty, comment: deploy, exclusive: true}}\n", u.name, deploy)
	if r = env.Apply(exclusive); r.Exit != tasktest.ExitOK || r.Statuses()["only"] != engine.Changed {
		t.Fatalf("exclusive: %s", r)
	}
	u.expect(t, "no-pty "+deploy+" deploy\n# managed by runbook\n", 0o640)
	if r = env.Apply(exclusive, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("exclusive again: %s", r)
	}
}

// expect checks the file's content, mode and owner, and that ~/.ssh is
// the user's, 0700.
func (a *account) expect(t *testing.T, content string, mode os.FileMode) {
	t.Helper()
	got, err := os.ReadFile(a.keys())
	must(t, err)
	if string(got) != content {
		t.Errorf("authorized_keys =\n%s\nwant\n%s", got, content)
	}
	for p, m := range map[string]os.FileMode{a.keys(): mode, filepath.Dir(a.keys()): 0o700} {
		var st syscall.Stat_t
		must(t, syscall.Lstat(p, &st))
		if int(st.Uid) != a.uid || int(st.Gid) != a.gid || os.FileMode(st.Mode&0o7777) != m {
			t.Errorf("%s is uid %d gid %d mode %04o, want %d %d %04o", p, st.Uid, st.Gid, st.Mode&0o7777, a.uid, a.gid, m)
		}
	}
	entries, _ := os.ReadDir(filepath.Dir(a.keys()))
	for _, e := range entries {
		if e.Name() != "authorized_keys" {
			t.Errorf("left behind in ~/.ssh: %s", e.Name())
		}
	}
}

// Parameters are judged before anything runs, naming the one at fault.
func TestAuthorizedKeyBadParams(t *testing.T) {
	env := tasktest.New(t)
	k := newKey(t)
	for with, msg := range map[string]string{
		`{user: u, key: "ssh-ed25519 AAAAC3Nz"}`:                             "key ",
		fmt.Sprintf(`{user: u, key: %q, options: "from=10"}`, k):             "options ",
		fmt.Sprintf(`{user: u, key: %q, state: absent, exclusive: true}`, k): "exclusive goes with state: present",
	} {
		r := env.Apply("steps:\n  - {name: k, hosts: h1, task: authorized_key, with: " + with + "}\n")
		if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, msg) || len(r.Statuses()) != 0 {
			t.Errorf("%s: want an error before the run naming %q, got %s", with, msg, r)
		}
	}
}

// A user that does not exist is an error, and in check mode one an
// earlier step may cure.
func TestAuthorizedKeyNoSuchUser(t *testing.T) {
	env := tasktest.New(t)
	r := env.Apply(fmt.Sprintf("steps:\n  - {name: k, hosts: h1, task: authorized_key, with: {user: rb-nobody-here, key: %q}}\n", newKey(t)))
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Result("k").Message, "user rb-nobody-here does not exist") {
		t.Fatalf("%s", r)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// With path in a directory only root can change (AuthorizedKeysFile
// /etc/ssh/authorized_keys/%u), root writes the file: a new one is the
// user's, 0600; an existing one keeps its owner and mode.
func TestAuthorizedKeyPathInRootsDirectory(t *testing.T) {
	env := tasktest.New(t)
	u := newAccount(t)
	dir := filepath.Join(env.Dir, "authorized_keys.d")
	must(t, os.Mkdir(dir, 0o755))
	file := filepath.Join(dir, u.name)
	k1, k2 := newKey(t), newKey(t)
	rb := func(key string) string {
		return fmt.Sprintf("steps:\n  - {name: k, hosts: h1, task: authorized_key, with: {user: %s, key: %q, path: %s}}\n", u.name, key, file)
	}
	if r := env.Apply(rb(k1)); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	expectFile(t, file, k1+"\n", u.uid, u.gid, 0o600)
	if r := env.Apply(rb(k1), "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check: %s", r)
	}
	must(t, os.Chown(file, 0, 0))
	must(t, os.Chmod(file, 0o644))
	if r := env.Apply(rb(k2)); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply to root's file: %s", r)
	}
	expectFile(t, file, k1+"\n"+k2+"\n", 0, 0, 0o644)
	if _, err := os.Stat(filepath.Join(u.home, ".ssh")); err == nil {
		t.Error("~/.ssh was created for a file elsewhere")
	}

	// A directory the user can change is the user's business: written as
	// the user, never as root.
	own := filepath.Join(u.home, "keys")
	u.sh(t, "mkdir keys")
	rb = func(key string) string {
		return fmt.Sprintf("steps:\n  - {name: k, hosts: h1, task: authorized_key, with: {user: %s, key: %q, path: %s/ak}}\n", u.name, key, own)
	}
	if r := env.Apply(rb(k1)); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply in the user's directory: %s", r)
	}
	expectFile(t, filepath.Join(own, "ak"), k1+"\n", u.uid, u.gid, 0o600)
	must(t, os.Chown(own, 0, 0))
	must(t, os.Chmod(own, 0o777))
	if r := env.Apply(rb(k2)); r.Exit != tasktest.ExitError || !strings.Contains(r.Result("k").Message, "belongs to root, in a directory another user can change") {
		t.Fatalf("a root directory the user can write: %s", r)
	}
}

func expectFile(t *testing.T, p, content string, uid, gid int, mode os.FileMode) {
	t.Helper()
	got, err := os.ReadFile(p)
	must(t, err)
	var st syscall.Stat_t
	must(t, syscall.Lstat(p, &st))
	if string(got) != content || int(st.Uid) != uid || int(st.Gid) != gid || os.FileMode(st.Mode&0o7777) != mode {
		t.Errorf("%s is uid %d gid %d mode %04o with\n%s\nwant %d %d %04o with\n%s", p, st.Uid, st.Gid, st.Mode&0o7777, got, uid, gid, mode, content)
	}
}

// A service user's home may be root's (0755): ~/.ssh is made there by
// root and given to the user, who owns what is in it.
func TestAuthorizedKeyHomeOfRoot(t *testing.T) {
	env := tasktest.New(t)
	u := newAccount(t)
	must(t, os.Chown(u.home, 0, 0))
	k := newKey(t)
	rb := fmt.Sprintf("steps:\n  - {name: k, hosts: h1, task: authorized_key, with: {user: %s, key: %q}}\n", u.name, k)
	if r := env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	u.expect(t, k+"\n", 0o600)
	if r := env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check: %s", r)
	}
	// Another user's home is not root's to make ~/.ssh in.
	must(t, os.RemoveAll(filepath.Join(u.home, ".ssh")))
	must(t, os.Chown(u.home, 1, 1))
	if r := env.Apply(rb); r.Exit != tasktest.ExitError || !strings.Contains(r.Result("k").Message, "belongs to uid 1") {
		t.Fatalf("a home of another user's: %s", r)
	}
}
