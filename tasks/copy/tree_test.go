package copy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

func TestCopyTreeTimeline(t *testing.T) {
	env := tasktest.New(t)
	src := t.TempDir()
	odd := "odd\nname.conf"
	files := map[string]string{"a.conf": "a = 1\n", "sub/b.conf": "b = 1\n", "sub/deep/c.sh": "echo c\n", odd: "odd\n"}
	for rel, content := range files {
		p := filepath.Join(src, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("a.conf", filepath.Join(src, "link.conf")); err != nil {
		t.Fatal(err)
	}
	files["link.conf"] = files["a.conf"]
	dest := filepath.Join(env.Dir, "app")
	rb := fmt.Sprintf("steps:\n  - {name: tree, hosts: h1, task: copy, with: {src: %s/, dest: %s, mode: \"0640\", directory_mode: \"0750\", backup: true}}\n", src, dest)

	before := tasktest.Snapshot(t, env.Dir)
	r := env.Apply(rb, "--check")
	want := []string{
		"+ create directory " + dest + " (0750)",
		"+ create " + dest + "/a.conf (6 bytes, 0640)",
		"+ create " + dest + "/link.conf (6 bytes, 0640)",
		"+ create " + dest + "/" + odd + " (4 bytes, 0640)",
		"+ create directory " + dest + "/sub (0750)",
		"+ create " + dest + "/sub/b.conf (6 bytes, 0640)",
		"+ create directory " + dest + "/sub/deep (0750)",
		"+ create " + dest + "/sub/deep/c.sh (7 bytes, 0640)",
	}
	got := slices.Clone(r.Result("tree").Changes)
	slices.Sort(got)
	slices.Sort(want)
	if r.Exit != tasktest.ExitDrift || !slices.Equal(got, want) {
		t.Fatalf("first check: changes\n%q\nwant\n%q\n%s", got, want, r)
	}
	if tasktest.Snapshot(t, env.Dir) != before {
		t.Fatal("check mode changed the host")
	}

	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	for rel, content := range files {
		assertFile(t, filepath.Join(dest, rel), content, 0o640)
	}
	for _, d := range []string{"", "sub", "sub/deep"} {
		if st, err := os.Lstat(filepath.Join(dest, d)); err != nil || !st.IsDir() || st.Mode().Perm() != 0o750 {
			t.Errorf("directory %q: %v %v", d, st.Mode(), err)
		}
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}

	// Drift by hand: a file's content, another's mode, one gone. A file
	// only the host has, and a directory's own mode, are not copy's.
	os.WriteFile(filepath.Join(dest, "sub/b.conf"), []byte("b = 2\n"), 0o640)
	os.Chmod(filepath.Join(dest, "a.conf"), 0o600)
	os.Remove(filepath.Join(dest, "sub/deep/c.sh"))
	os.WriteFile(filepath.Join(dest, "sub/local.conf"), []byte("mine\n"), 0o600)
	os.Chmod(filepath.Join(dest, "sub"), 0o700)
	r = env.Apply(rb, "--check", "--diff")
	ev := r.Result("tree")
	want = []string{
		"~ " + dest + "/a.conf: mode 0600 -> 0640",
		"~ content " + dest + "/sub/b.conf: sha256 ",
		"+ back up the old " + dest + "/sub/b.conf as " + dest + "/sub/b.conf.<time>~",
		"+ create " + dest + "/sub/deep/c.sh (7 bytes, 0640)",
	}
	if r.Exit != tasktest.ExitDrift || len(ev.Changes) != len(want) {
		t.Fatalf("drift check: want %q\n%s", want, r)
	}
	for i, w := range want {
		if !strings.HasPrefix(ev.Changes[i], w) {
			t.Errorf("drift check: change %d is %q, want %q", i, ev.Changes[i], w)
		}
	}
	if !strings.Contains(ev.Diff, "-b = 2") || !strings.Contains(ev.Diff, "+b = 1") || !strings.Contains(ev.Diff, "+echo c") {
		t.Errorf("drift diff = %q", ev.Diff)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("repair: %s", r)
	}
	backups, _ := filepath.Glob(filepath.Join(dest, "sub/b.conf.*~"))
	if len(backups) != 1 || !slices.Contains(r.Result("tree").Changes, "+ back up the old "+dest+"/sub/b.conf as "+backups[0]) {
		t.Fatalf("backups %q, changes %q", backups, r.Result("tree").Changes)
	}
	assertFile(t, backups[0], "b = 2\n", 0o640)
	for rel, content := range files {
		assertFile(t, filepath.Join(dest, rel), content, 0o640)
	}
	assertFile(t, filepath.Join(dest, "sub/local.conf"), "mine\n", 0o600)
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("after repair: %s", r)
	}
}

func TestCopyTreeErrors(t *testing.T) {
	env := tasktest.New(t)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "f"), []byte("x"), 0o644)
	os.Symlink("/etc", filepath.Join(t.TempDir(), "x"))
	withDirLink := t.TempDir()
	os.Symlink("/etc", filepath.Join(withDirLink, "etc"))
	inWay := filepath.Join(env.Dir, "in-the-way")
	os.WriteFile(inWay, nil, 0o644)
	for with, want := range map[string]string{
		fmt.Sprintf("{src: %s, dest: /tmp/x}", src):                             "is a directory: write " + src + "/ to take the directory, or name a file",
		fmt.Sprintf("{src: %s/f/, dest: /tmp/x}", src):                          "is not a directory: name it without the trailing /",
		fmt.Sprintf("{src: %s/f, dest: /tmp/x, directory_mode: \"0700\"}", src): "directory_mode goes with a directory src",
		fmt.Sprintf("{src: %s/, dest: %s}", withDirLink, env.Dir+"/d"):          "is a symlink to a directory: copy follows only symlinks to regular files",
		fmt.Sprintf("{src: %s/, dest: %s}", src, inWay):                         "in-the-way is a file, not a directory",
		fmt.Sprintf("{src: %s/, dest: %s/missing/d}", src, env.Dir):             "directory " + env.Dir + "/missing does not exist",
	} {
		r := env.Apply("steps:\n  - {name: c, hosts: h1, task: copy, with: " + with + "}\n")
		if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr+r.Result("c").Message, want) {
			t.Errorf("%s: want an error %q\n%s", with, want, r)
		}
	}
}

func assertFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	st, err := os.Lstat(p)
	if err != nil {
		t.Errorf("%q: %v", p, err)
		return
	}
	got, _ := os.ReadFile(p)
	if !st.Mode().IsRegular() || string(got) != content || st.Mode().Perm() != mode {
		t.Errorf("%q: %v %q, want a file of mode %v holding %q", p, st.Mode(), got, mode, content)
	}
}

// A service user who owns the directory a tree is copied into keeps
// swapping one of its files for a symlink to a root-only file while
// runbook sets that file's mode and owner: the root-only file keeps its
// own (the tree's listing must tell that the directory is another user's).
func TestCopyTreeHostileSymlinkSwap(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	env := tasktest.New(t)
	top := hostile.Dir(t)
	secret := filepath.Join(top, "shadow")
	if err := os.WriteFile(secret, []byte("root only\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(top, "app")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, app)
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "app.conf"), []byte("x\n"), 0o644)
	conf := filepath.Join(app, "app.conf")
	hostile.Start(t, fmt.Sprintf(`while :; do
  rm -f %[2]s; echo x > %[2]s; chmod 600 %[2]s
  ln -sfn %[1]s %[2]s
done 2>/dev/null`, secret, conf))
	for i := range 40 {
		mode := []string{"0644", "0604"}[i%2]
		env.Apply(fmt.Sprintf("steps:\n  - {name: c, hosts: h1, task: copy, with: {src: %s/, dest: %s, mode: %q, owner: %d}}\n", src, app, mode, hostile.UID))
	}
	var st syscall.Stat_t
	if err := syscall.Stat(secret, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Mode&0o7777 != 0o600 {
		t.Fatalf("the root-only file is now uid %d mode %04o: runbook followed the hostile user's symlink", st.Uid, st.Mode&0o7777)
	}
}
