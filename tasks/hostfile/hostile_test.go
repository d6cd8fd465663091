package hostfile_test

import (
	"context"
	"fmt"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

// These tests play a hostile local user of a managed host: a real
// unprivileged process racing runbook's root writes over a real sshd.

// rootConn connects to a new sshd as the current user (root under CI).
func rootConn(t *testing.T, opts ...sshtest.Option) transport.Conn {
	t.Helper()
	return tasktest.Conn(t, opts...)
}

// serviceDir makes a root-only file and a directory the hostile user owns,
// as a service's own /etc/app is, beside it.
func serviceDir(t *testing.T, hostile *sshtest.Hostile) (secret, app string) {
	t.Helper()
	top := hostile.Dir(t)
	secret = filepath.Join(top, "shadow")
	if err := os.WriteFile(secret, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	app = filepath.Join(top, "app")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, app)
	return secret, app
}

func apply(ctx context.Context, c transport.Conn, spec hostfile.Spec) error {
	h := &tasks.Host{Name: "h1", Conn: c, Log: slog.New(slog.DiscardHandler)}
	ch, err := hostfile.Plan(ctx, h, spec)
	if err != nil || ch.Apply == nil {
		return err
	}
	_, err = ch.Apply(ctx)
	return err
}

// A service user who owns the directory of a file runbook manages swaps
// the file for a symlink to a root-only file while runbook writes it: the
// root-only file must keep its owner and mode (runbook once chowned the
// symlink's target to the old owner after the rename: 8 of 8 tries).
func TestHostileSymlinkSwapDuringWrite(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	c := rootConn(t)
	secret, app := serviceDir(t, hostile)
	conf := filepath.Join(app, "app.conf")
	if err := os.WriteFile(conf, []byte("v0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, conf)
	// It waits (with builtins only: fast) for runbook's new file, which
	// is root's until its owner is set, and swaps it for a symlink at once.
	hostile.Start(t, fmt.Sprintf(`while :; do
  if [ -f %[2]s ] && [ ! -L %[2]s ] && [ ! -O %[2]s ]; then
    ln -sfn %[1]s %[2]s; sleep 0.2; rm -f %[2]s; echo x >%[2]s
  fi
done 2>/dev/null`, secret, conf))

	ctx := context.Background()
	mode := hostfile.Mode(0o640)
	for i := range 40 {
		// Inspection may find the symlink (an error, which is right);
		// what matters is what the writes that go ahead do.
		spec := hostfile.Spec{Path: conf, Content: hostfile.Bytes(fmt.Appendf(nil, "v%d\n", i+1))}
		if i%2 == 1 {
			spec.Mode, spec.Owner = &mode, fmt.Sprint(hostile.UID)
		}
		_ = apply(ctx, c, spec)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(secret, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Gid != 0 || st.Mode&0o7777 != 0o600 {
		t.Fatalf("the root-only file is now uid %d gid %d mode %04o: runbook followed the hostile user's symlink", st.Uid, st.Gid, st.Mode&0o7777)
	}
}

// The same for a change of mode or owner alone, with no new content.
func TestHostileSymlinkSwapDuringAttrs(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	c := rootConn(t)
	secret, app := serviceDir(t, hostile)
	conf := filepath.Join(app, "app.conf")
	hostile.Start(t, fmt.Sprintf(`while :; do
  rm -f %[2]s; echo x > %[2]s; chmod 600 %[2]s
  ln -sfn %[1]s %[2]s
done 2>/dev/null`, secret, conf))

	ctx := context.Background()
	for i := range 60 {
		mode := hostfile.Mode(0o644)
		if i%2 == 1 {
			mode = 0o604
		}
		_ = apply(ctx, c, hostfile.Spec{Path: conf, Mode: &mode, Owner: fmt.Sprint(hostile.UID)})
	}
	var st syscall.Stat_t
	if err := syscall.Stat(secret, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Mode&0o7777 != 0o600 {
		t.Fatalf("the root-only file is now uid %d mode %04o: runbook followed the hostile user's symlink", st.Uid, st.Mode&0o7777)
	}
}

// Another user watching a root-owned directory opens runbook's temporary
// file as soon as it appears and reads it later through that descriptor:
// a file meant to be 0600 must be unreadable from its first byte.
func TestHostileReadsTemporaryFile(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	c := rootConn(t)
	top := hostile.Dir(t)
	etc := filepath.Join(top, "etc")
	if err := os.Mkdir(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	loot := filepath.Join(top, "loot")
	if err := os.Mkdir(loot, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, loot)
	// The brace group holds the file open across the sleep; a failed
	// open just skips it.
	hostile.Start(t, fmt.Sprintf(`n=0
while :; do
  for f in %s/.runbook-*; do
    [ -e "$f" ] || continue
    n=$((n+1))
    { sleep 0.3; cat; } <"$f" >%s/$n 2>/dev/null &
  done
done`, etc, loot))

	ctx := context.Background()
	const secret = "TOP-SECRET-"
	mode := hostfile.Mode(0o600)
	for i := range 30 {
		content := strings.Repeat(fmt.Sprintf("%s%d\n", secret, i), 4096)
		if err := apply(ctx, c, hostfile.Spec{Path: filepath.Join(etc, "key"), Content: hostfile.Bytes([]byte(content)), Mode: &mode}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond) // the last readers' sleep
	entries, _ := os.ReadDir(loot)
	for _, e := range entries {
		got, _ := os.ReadFile(filepath.Join(loot, e.Name()))
		if strings.Contains(string(got), secret) {
			t.Fatalf("another user read the 0600 file while it was written: %.40q", got)
		}
	}
}

// A diff reads the old content from the host: a symlink put there after
// the inspection must not make it show another file.
func TestHostileDiffDoesNotFollowSymlink(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	c := rootConn(t)
	secret, app := serviceDir(t, hostile)
	conf := filepath.Join(app, "conf")
	if err := os.Symlink(secret, conf); err != nil {
		t.Fatal(err)
	}
	fi := &hostfile.Info{Exists: true, Type: "file", Size: 10, ParentDir: true}
	d, err := hostfile.Diff(context.Background(), c, conf, fi, []byte("new\n"))
	if strings.Contains(d, "root only") {
		t.Fatalf("the diff shows the symlink's target: %q", d)
	}
	if err != nil || !strings.Contains(d, "changed since it was inspected") {
		t.Fatalf("Diff through a symlink = %q, %v; want a note that it changed", d, err)
	}
}
