package transport_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
)

// lockFile is where the lock named key lives for root.
func lockFile(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "/run/runbook/locks/" + hex.EncodeToString(sum[:])
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("the lock tests need root (CI runs as root)")
		}
		t.Skip("SKIPPED: the lock tests log in as root, whose locks live in /run/runbook")
	}
}

func locker(t *testing.T, s *sshtest.Server) (*transport.Pool, transport.Conn) {
	t.Helper()
	pool, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	return pool, c
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 60s, still not: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// heldOnHost reports whether anybody holds the lock file, asking flock on
// the host (the test's machine) itself.
func heldOnHost(t *testing.T, key string) bool {
	t.Helper()
	res, err := transport.Local{}.Run(context.Background(), "flock -n -x "+lockFile(key)+" true", nil)
	if err != nil {
		t.Fatal(err)
	}
	return !res.OK()
}

type acquired struct {
	unlock func()
	err    error
}

func lockAsync(l transport.Conn, ctx context.Context, key string, waited *atomic.Bool) chan acquired {
	ch := make(chan acquired, 1)
	go func() {
		u, err := l.Lock(ctx, key, func() { waited.Store(true) })
		ch <- acquired{u, err}
	}()
	return ch
}

func TestLockExcludesAnotherConnection(t *testing.T) {
	requireRoot(t)
	s := sshtest.Start(t)
	_, a := locker(t, s)
	_, b := locker(t, s)
	key := "test:" + t.Name() + time.Now().String()
	ctx := context.Background()

	unlockA, err := a.Lock(ctx, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(lockFile(key))
	if err != nil || !st.Mode().IsRegular() || st.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v, %v: want a regular file of mode 0600", st, err)
	}
	if d, err := os.Lstat("/run/runbook/locks"); err != nil || !d.IsDir() || d.Mode().Perm() != 0o700 {
		t.Fatalf("lock directory: %v, %v: want a directory of mode 0700", d, err)
	}
	var waited atomic.Bool
	got := lockAsync(b, ctx, key, &waited)
	eventually(t, "the second locker says it waits", waited.Load)
	select {
	case r := <-got:
		t.Fatalf("the second locker got the lock while the first held it: %v", r.err)
	default:
	}
	unlockA()
	var r acquired
	select {
	case r = <-got:
	case <-time.After(60 * time.Second):
		t.Fatal("the second locker did not get the lock 60s after the first let go")
	}
	if r.err != nil {
		t.Fatal(r.err)
	}
	if !heldOnHost(t, key) {
		t.Fatal("the second locker returned without holding the lock")
	}
	r.unlock()
	if heldOnHost(t, key) {
		t.Fatal("the lock is still held after unlock returned")
	}
}

// A run that dies, or loses its connection, holding the lock does not keep
// it: the process holding it on the host ends with the connection.
func TestLockReleasedWhenTheConnectionEnds(t *testing.T) {
	requireRoot(t)
	s := sshtest.Start(t)
	poolA, a := locker(t, s)
	key := "test:" + t.Name() + time.Now().String()
	if _, err := a.Lock(context.Background(), key, nil); err != nil {
		t.Fatal(err)
	}
	if !heldOnHost(t, key) {
		t.Fatal("not held after Lock")
	}
	poolA.Close()
	eventually(t, "the lock is released once its connection is closed", func() bool { return !heldOnHost(t, key) })
}

// Giving up while waiting leaves nothing behind on the host that would
// take the lock later.
func TestLockCancelledWhileWaiting(t *testing.T) {
	requireRoot(t)
	s := sshtest.Start(t)
	_, a := locker(t, s)
	_, b := locker(t, s)
	key := "test:" + t.Name() + time.Now().String()
	unlockA, err := a.Lock(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var waited atomic.Bool
	got := lockAsync(b, ctx, key, &waited)
	eventually(t, "the second locker waits", waited.Load)
	cancel()
	select {
	case r := <-got:
		if !errors.Is(r.err, context.Canceled) {
			t.Fatalf("cancelled Lock = %v, want context.Canceled", r.err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("a cancelled Lock did not return")
	}
	unlockA()
	// The abandoned waiter may take the lock as it is let go, but it
	// must not keep it: with no controller left, nothing would let go.
	eventually(t, "the lock is free once its holder let go and the other gave up", func() bool { return !heldOnHost(t, key) })
}

// attacker is an unprivileged local user, created once per machine.
func attacker(t *testing.T) *syscall.Credential {
	t.Helper()
	const name = "rb-attacker-wtlocks"
	if _, err := user.Lookup(name); err != nil {
		if out, err := exec.Command("useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name).CombinedOutput(); err != nil {
			if _, again := user.Lookup(name); again != nil {
				t.Fatalf("useradd %s: %v: %s", name, err, out)
			}
		}
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// asAttacker starts sh -c script as the attacker; it is killed at the
// end of the test.
func asAttacker(t *testing.T, cred *syscall.Credential, script string) *exec.Cmd {
	t.Helper()
	c := exec.Command("sh", "-c", script)
	c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	c.Dir = "/"
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })
	return c
}

// A local user who can write the edited file's directory can neither
// take runbook's lock on it (to hold up every run) nor make runbook wait
// by locking the file or the directory themselves.
func TestLockHostileUserCannotHoldItUp(t *testing.T) {
	requireRoot(t)
	cred := attacker(t)
	s := sshtest.Start(t)
	_, a := locker(t, s)
	dir, err := os.MkdirTemp("", "runbook-lock-hostile-") // where the attacker can reach it
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(dir, "app.conf")
	if err := os.WriteFile(target, nil, 0o666); err != nil {
		t.Fatal(err)
	}
	key := "file:" + target
	// Make sure the lock file exists, as after any earlier run.
	unlock, err := a.Lock(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	unlock()

	ready := filepath.Join(dir, "ready")
	asAttacker(t, cred, fmt.Sprintf(`exec 7<%[1]s 8<%[2]s
flock -x 7 && flock -x 8 && touch %[3]s && sleep 600`, target, dir, ready))
	try := asAttacker(t, cred, fmt.Sprintf("flock -n -x %s true", lockFile(key)))
	if err := try.Wait(); err == nil {
		t.Fatal("the attacker could lock runbook's lock file")
	}
	eventually(t, "the attacker holds locks on the file and its directory", func() bool {
		_, err := os.Stat(ready)
		return err == nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var waited atomic.Bool
	unlock, err = a.Lock(ctx, key, func() { waited.Store(true) })
	if err != nil {
		t.Fatalf("Lock while the attacker locks the file and its directory: %v", err)
	}
	unlock()
	if waited.Load() {
		t.Fatal("runbook waited for the attacker's lock")
	}
}

// Only root can put anything in root's lock directory; should something
// else than a lock file be there all the same, runbook refuses it rather
// than follow a symlink or block on a FIFO.
func TestLockRefusesWhatIsNotALockFile(t *testing.T) {
	requireRoot(t)
	s := sshtest.Start(t)
	_, a := locker(t, s)
	victim := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(victim, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, plant := range map[string]func(string) error{
		"symlink": func(p string) error { return os.Symlink(victim, p) },
		"fifo":    func(p string) error { return syscall.Mkfifo(p, 0o600) },
	} {
		key := "test:" + t.Name() + name + time.Now().String()
		if _, err := a.Lock(context.Background(), key+"-first", nil); err != nil {
			t.Fatal(err) // creates the lock directory
		}
		if err := plant(lockFile(key)); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(lockFile(key)) })
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, err := a.Lock(ctx, key, nil)
		cancel()
		if err == nil || !strings.Contains(err.Error(), "not a regular file") {
			t.Errorf("%s: Lock = %v, want a refusal", name, err)
		}
	}
	if st, err := os.Stat(victim); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("the symlink's target changed: %v %v", st, err)
	}
}

// A user runbook becomes has locks of its own, through sudo; one with no
// home has none, and says so.
func TestLockAsBecomeUser(t *testing.T) {
	requireRoot(t)
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = transport.Become(c, transport.Escalation{User: "nobody"}).Lock(context.Background(), "test:"+t.Name(), nil)
	if !errors.Is(err, transport.ErrNoLock) || !strings.Contains(err.Error(), "no home directory") {
		t.Fatalf("Lock as nobody = %v, want ErrNoLock for want of a home", err)
	}
}

// Steps on `hosts: local` and runs reaching the controller over SSH take
// the same lock.
func TestLockLocalAndSSHExcludeEachOther(t *testing.T) {
	requireRoot(t)
	s := sshtest.Start(t)
	_, a := locker(t, s)
	key := "test:" + t.Name() + time.Now().String()
	unlock, err := transport.Local{}.Lock(context.Background(), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	var waited atomic.Bool
	got := lockAsync(a, context.Background(), key, &waited)
	eventually(t, "the SSH locker waits for the local one", waited.Load)
	unlock()
	select {
	case r := <-got:
		if r.err != nil {
			t.Fatal(r.err)
		}
		r.unlock()
	case <-time.After(60 * time.Second):
		t.Fatal("the SSH locker did not get the lock after the local one let go")
	}
}
