package file_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

func TestFileRecurseTimeline(t *testing.T) {
	env := tasktest.New(t)
	top := filepath.Join(env.Dir, "srv")
	outside := filepath.Join(env.Dir, "outside")
	if err := os.WriteFile(outside, []byte("not in the tree"), 0o600); err != nil {
		t.Fatal(err)
	}
	odd := "a\nname with a newline"
	for _, d := range []string{"", "conf", "conf/d", odd} {
		if err := os.Mkdir(filepath.Join(top, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"conf/a.conf", "conf/d/b.conf", odd + "/c", "conf/d/ok"} {
		if err := os.WriteFile(filepath.Join(top, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(top, "conf/d/ok"), 0o750)
	if err := os.Symlink(outside, filepath.Join(top, "conf/link")); err != nil {
		t.Fatal(err)
	}
	rb := fmt.Sprintf("steps:\n  - {name: tree, hosts: h1, task: file, with: {path: %s, state: directory, recurse: true, mode: \"0750\"}}\n", top)
	modes := func() map[string]os.FileMode {
		out := map[string]os.FileMode{}
		filepath.Walk(env.Dir, func(p string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode()&os.ModeSymlink == 0 {
				out[strings.TrimPrefix(p, env.Dir)] = fi.Mode().Perm()
			}
			return err
		})
		return out
	}

	before := tasktest.Snapshot(t, env.Dir)
	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift {
		t.Fatalf("first check: %s", r)
	}
	// The top's own mode, and the 7 entries under it but conf/d/ok and the
	// symlink: the name with a newline counted once, and shown escaped.
	changes := r.Result("tree").Changes
	if len(changes) != 2 || changes[0] != "~ mode 0755 -> 0750" ||
		!strings.HasPrefix(changes[1], "~ 6 entries under "+top+" (mode 6): ") || !strings.HasSuffix(changes[1], " and 3 more") {
		t.Fatalf("first check changes = %q", changes)
	}
	if tasktest.Snapshot(t, env.Dir) != before {
		t.Fatal("check mode changed the host")
	}

	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	got := modes()
	if len(got) != 10 {
		t.Errorf("entries: %v", got)
	}
	for p, m := range got {
		want := os.FileMode(0o750)
		switch {
		case p == "":
			continue
		case p == "/outside":
			want = 0o600
		}
		if m != want {
			t.Errorf("%s: mode %v, want %v", p, m, want)
		}
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}

	// Drift by hand, deep in the tree, under the odd name.
	deep := filepath.Join(top, odd, "c")
	os.Chmod(deep, 0o644)
	r = env.Apply(rb, "--check")
	want := fmt.Sprintf("~ 1 entries under %s (mode 1): %q", top, odd+"/c")
	if r.Exit != tasktest.ExitDrift || len(r.Result("tree").Changes) != 1 || r.Result("tree").Changes[0] != want {
		t.Fatalf("drift check: want %q\n%s", want, r)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("tree").Status != engine.Changed {
		t.Fatalf("repair: %s", r)
	}
	if st, _ := os.Stat(deep); st.Mode().Perm() != 0o750 {
		t.Errorf("%q: mode %v after repair", deep, st.Mode().Perm())
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("after repair: %s", r)
	}
}

func TestFileRecurseOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: changing ownership needs root (CI runs as root)")
	}
	env := tasktest.New(t)
	top := filepath.Join(env.Dir, "data")
	os.MkdirAll(filepath.Join(top, "x/y"), 0o755)
	os.WriteFile(filepath.Join(top, "x/y/f"), nil, 0o644)
	tool := filepath.Join(top, "tool")
	os.WriteFile(tool, nil, 0o755)
	os.Chmod(tool, 0o755|os.ModeSetuid)
	rb := fmt.Sprintf("steps:\n  - {name: tree, hosts: h1, task: file, with: {path: %s, state: directory, recurse: true, owner: nobody, group: nogroup}}\n", top)
	r := env.Apply(rb, "--check")
	if changes := strings.Join(r.Result("tree").Changes, "\n"); r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "~ 4 entries under "+top+" (owner 4, group 4): ") {
		t.Fatalf("first check: %s", r)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	filepath.Walk(top, func(p string, fi os.FileInfo, err error) error {
		if st := fi.Sys().(*syscall.Stat_t); err == nil && (st.Uid != 65534 || st.Gid != 65534) {
			t.Errorf("%s: owner %d:%d", p, st.Uid, st.Gid)
		}
		return err
	})
	if st, _ := os.Stat(tool); st.Mode()&os.ModeSetuid == 0 {
		t.Errorf("%s lost setuid when its owner changed: %v", tool, st.Mode())
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}
	os.Lchown(filepath.Join(top, "x/y/f"), 0, 65534)
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("tree").Changes, "\n"), `(owner 1): "x/y/f"`) {
		t.Fatalf("drift check: %s", r)
	}

	r = env.Apply(strings.Replace(rb, "owner: nobody", "owner: rb-nobody-such", 1), "--check")
	if msg := r.Result("tree").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "no user rb-nobody-such on this host") {
		t.Fatalf("unknown owner: %s", r)
	}
}

// A user who can write in the tree (the service the directory is for)
// plants symlinks to a root-only file and directory, and keeps swapping a
// file for such a symlink while runbook walks the tree: neither target
// may be changed.
func TestFileRecurseHostileSymlinks(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	env := tasktest.New(t)
	top := hostile.Dir(t)
	secret := filepath.Join(top, "shadow")
	if err := os.WriteFile(secret, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	private := filepath.Join(top, "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(top, "app")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, app)
	hostile.Run(t, fmt.Sprintf(`set -e
mkdir %[1]s/sub %[1]s/race
ln -s %[2]s %[1]s/shadow
ln -s %[3]s %[1]s/sub/private
ln -s %[2]s %[1]s/sub/.hidden`, app, secret, private))
	hostile.Start(t, fmt.Sprintf(`cd %s/race
while :; do
  rm -f f; echo x >f; ln -sfn %s f; rm -f d; mkdir d; rmdir d; ln -sfn %s d
done 2>/dev/null`, app, secret, private))

	for i := range 20 {
		mode := []string{"0777", "0755"}[i%2]
		env.Apply(fmt.Sprintf("steps:\n  - {name: t, hosts: h1, task: file, with: {path: %s, state: directory, recurse: true, mode: %q, owner: %d}}\n", app, mode, hostile.UID))
	}
	for p, want := range map[string]uint32{secret: 0o600, private: 0o700} {
		var st syscall.Stat_t
		if err := syscall.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != 0 || st.Mode&0o7777 != want {
			t.Errorf("%s is now uid %d mode %04o: runbook followed the hostile user's symlink", p, st.Uid, st.Mode&0o7777)
		}
	}
	// And the tree itself was walked.
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(app, "sub"), &st); err != nil || st.Mode&0o777 != 0o755 || int(st.Uid) != hostile.UID {
		t.Errorf("sub: mode %04o uid %d, %v", st.Mode&0o7777, st.Uid, err)
	}
}
