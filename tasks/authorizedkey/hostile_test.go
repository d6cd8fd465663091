package authorizedkey_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/authorizedkey"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// rootFile is a file of root's, outside the user's home, that the user
// would like runbook to write: rootDir/authorized_keys.
func rootFile(t *testing.T) (dir, file string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "root-ssh")
	must(t, os.Mkdir(dir, 0o755))
	file = filepath.Join(dir, "authorized_keys")
	must(t, os.WriteFile(file, []byte("root's keys\n"), 0o644))
	return dir, file
}

// unchanged fails the test unless dir holds only file, root's, 0644, with
// its content as rootFile made it.
func unchanged(t *testing.T, dir, file string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	must(t, err)
	if len(entries) != 1 {
		t.Errorf("runbook wrote into root's directory: %v", entries)
	}
	var st syscall.Stat_t
	must(t, syscall.Lstat(file, &st))
	got, _ := os.ReadFile(file)
	if st.Uid != 0 || st.Gid != 0 || st.Mode&0o7777 != 0o644 || string(got) != "root's keys\n" {
		t.Fatalf("root's file is now uid %d gid %d mode %04o with %q", st.Uid, st.Gid, st.Mode&0o7777, got)
	}
}

// The user replaces ~/.ssh/authorized_keys, then ~/.ssh, with a symbolic
// link to a file (a directory) of root's before the run: runbook refuses,
// in check mode as in a real run, and root's file is unchanged.
func TestAuthorizedKeyRefusesSymlinks(t *testing.T) {
	env := tasktest.New(t)
	u := newAccount(t)
	dir, file := rootFile(t)
	rb := fmt.Sprintf("steps:\n  - {name: k, hosts: h1, task: authorized_key, with: {user: %s, key: %q}}\n", u.name, newKey(t))

	u.sh(t, fmt.Sprintf("mkdir -m 0700 .ssh && ln -s %s .ssh/authorized_keys", tasks.Quote(file)))
	for _, flags := range [][]string{{"--check"}, nil} {
		r := env.Apply(rb, flags...)
		msg := r.Result("k").Message
		if r.Exit != tasktest.ExitError || !strings.Contains(msg, "authorized_keys is a symbolic link: refusing to follow it") || !strings.Contains(msg, "StrictModes") {
			t.Fatalf("%v with a symlinked file: %s", flags, r)
		}
	}
	unchanged(t, dir, file)

	u.sh(t, fmt.Sprintf("rm -r .ssh && ln -s %s .ssh", tasks.Quote(dir)))
	for _, flags := range [][]string{{"--check"}, nil} {
		r := env.Apply(rb, flags...)
		if r.Exit != tasktest.ExitError || !strings.Contains(r.Result("k").Message, "/.ssh is a symbolic link: refusing to follow it") {
			t.Fatalf("%v with a symlinked ~/.ssh: %s", flags, r)
		}
	}
	unchanged(t, dir, file)
}

// The user swaps ~/.ssh for a symbolic link to a directory of root's and
// back, over and over, while runbook adds keys: whatever runbook saw, what
// it writes lands in the user's own directory or nowhere (root writing by
// name would have put a file of the user's in root's directory).
func TestAuthorizedKeyHostileSwapsSSHDir(t *testing.T) {
	sshtest.Require(t)
	u := newAccount(t)
	c := tasktest.Conn(t)
	dir, file := rootFile(t)
	u.sh(t, "mkdir -m 0700 .ssh && : >.ssh/authorized_keys")
	u.start(t, fmt.Sprintf(`exec perl -e 'while (1) { rename(".ssh", "real"); symlink($ARGV[0], ".ssh"); unlink(".ssh"); rename("real", ".ssh") }' %s`, tasks.Quote(dir)))

	ctx := context.Background()
	h := &tasks.Host{Name: "h1", Conn: c, Log: slog.New(slog.DiscardHandler)}
	planned, wrote := 0, 0
	for range 100 {
		ak := &authorizedkey.AuthorizedKey{User: u.name, Key: newKey(t)}
		must(t, ak.Validate())
		ch, err := ak.Check(ctx, h)
		if err != nil || ch.Apply == nil {
			continue // it saw the symlink, or ~/.ssh in between: right
		}
		planned++
		if _, err := ch.Apply(ctx); err == nil {
			wrote++
		}
	}
	unchanged(t, dir, file)
	t.Logf("%d runs found a real ~/.ssh and went on to write, %d of them wrote", planned, wrote)
	if planned == 0 {
		t.Fatal("no run went on to write: the test raced nothing")
	}
}

// start runs script as the user until the test ends.
func (a *account) start(t *testing.T, script string) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = a.home
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "LC_ALL=C"}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(a.uid), Gid: uint32(a.gid), Groups: []uint32{}},
		Setpgid:    true,
	}
	must(t, cmd.Start())
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
