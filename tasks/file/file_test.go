package file_test

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/sshtest"
	_ "github.com/runbookdev/runbook/tasks/file"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

func TestFileTimeline(t *testing.T) {
	env := tasktest.New(t)
	app := filepath.Join(env.Dir, "app")
	old := filepath.Join(env.Dir, "old.conf")
	if err := os.WriteFile(old, []byte("stale"), 0o644); err != nil {
		t.Fatal(err)
	}
	rb := fmt.Sprintf(`
steps:
  - {name: dir, hosts: h1, task: file, with: {path: %[1]s, state: directory, mode: "0750"}}
  - name: conf
    hosts: h1
    task: file
    with:
      path: %[1]s/app.conf
      content: |
        port = 8181
        bind = 0.0.0.0
      mode: "0640"
  - {name: empty, hosts: h1, task: file, with: {path: %[1]s/flag}}
  - {name: old, hosts: h1, task: file, with: {path: %[2]s, state: absent}}
`, app, old)

	before := tasktest.Snapshot(t, env.Dir)
	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift {
		t.Fatalf("first check: want exit 2\n%s", r)
	}
	want := map[string]engine.Status{"dir": engine.Changed, "conf": engine.Changed, "empty": engine.Changed, "old": engine.Changed}
	if diff := cmp.Diff(want, r.Statuses()); diff != "" {
		t.Errorf("first check (-want +got):\n%s\n%s", diff, r)
	}
	if after := tasktest.Snapshot(t, env.Dir); after != before {
		t.Fatalf("check mode changed the host:\n%s\n->\n%s", before, after)
	}

	r = env.Apply(rb)
	if r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: want exit 0\n%s", r)
	}
	assertFile(t, filepath.Join(app, "app.conf"), "port = 8181\nbind = 0.0.0.0\n", 0o640)
	assertFile(t, filepath.Join(app, "flag"), "", 0o644)
	if st, err := os.Stat(app); err != nil || st.Mode().Perm() != 0o750 || !st.IsDir() {
		t.Errorf("app dir: %v %v", st, err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("old.conf still there: %v", err)
	}

	r = env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: want exit 0 (no change)\n%s", r)
	}
	for step, st := range r.Statuses() {
		if st != engine.OK {
			t.Errorf("second check: %s is %s", step, st)
		}
	}

	// Drift by hand: content and mode of conf, the old file back.
	conf := filepath.Join(app, "app.conf")
	if err := os.WriteFile(conf, []byte("port = 8181\nbind = 127.0.0.1\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(conf, 0o600)
	os.WriteFile(old, []byte("stale"), 0o644)
	before = tasktest.Snapshot(t, env.Dir)
	r = env.Apply(rb, "--check", "--diff")
	if r.Exit != tasktest.ExitDrift {
		t.Fatalf("drift check: want exit 2\n%s", r)
	}
	want = map[string]engine.Status{"dir": engine.OK, "conf": engine.Changed, "empty": engine.OK, "old": engine.Changed}
	if diff := cmp.Diff(want, r.Statuses()); diff != "" {
		t.Errorf("drift check (-want +got):\n%s", diff)
	}
	ev := r.Result("conf")
	changes := strings.Join(ev.Changes, "\n")
	if !strings.Contains(changes, "~ content") || !strings.Contains(changes, "~ mode 0600 -> 0640") {
		t.Errorf("conf changes = %q", changes)
	}
	if !strings.Contains(ev.Diff, "-bind = 127.0.0.1") || !strings.Contains(ev.Diff, "+bind = 0.0.0.0") {
		t.Errorf("conf diff = %q", ev.Diff)
	}
	if after := tasktest.Snapshot(t, env.Dir); after != before {
		t.Fatalf("check mode changed the host")
	}

	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("repair: %s", r)
	}
	assertFile(t, conf, "port = 8181\nbind = 0.0.0.0\n", 0o640)
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("after repair: %s", r)
	}
}

func TestFileModeOnlyChangeKeepsContent(t *testing.T) {
	env := tasktest.New(t)
	p := filepath.Join(env.Dir, "keep")
	os.WriteFile(p, []byte("mine"), 0o600)
	rb := fmt.Sprintf("steps:\n  - {name: m, hosts: h1, task: file, with: {path: %s, mode: 0644}}\n", p)
	r := env.Apply(rb)
	if r.Exit != 0 || r.Result("m").Status != engine.Changed {
		t.Fatalf("%s", r)
	}
	assertFile(t, p, "mine", 0o644)
}

func TestFileOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: changing ownership needs root (CI runs as root)")
	}
	env := tasktest.New(t)
	p := filepath.Join(env.Dir, "owned")
	rb := fmt.Sprintf("steps:\n  - {name: o, hosts: h1, task: file, with: {path: %s, content: x, owner: nobody, group: nogroup}}\n", p)
	if r := env.Apply(rb); r.Exit != 0 {
		t.Fatalf("%s", r)
	}
	if r := env.Apply(rb, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}
	os.Chown(p, 0, 0)
	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("o").Changes, ","), "~ owner root -> nobody") {
		t.Fatalf("drift: %s", r)
	}
}

func TestFileErrors(t *testing.T) {
	env := tasktest.New(t)
	dir := filepath.Join(env.Dir, "d")
	os.Mkdir(dir, 0o755)
	r := env.Apply(fmt.Sprintf("steps:\n  - {name: f, hosts: h1, task: file, with: {path: %s, content: x}}\n  - {name: g, hosts: h1, task: file, with: {path: %s/missing/x, content: x}}\n", dir, env.Dir))
	if r.Exit != tasktest.ExitError {
		t.Fatalf("%s", r)
	}
	if msg := r.Result("f").Message; !strings.Contains(msg, "is a directory, not a regular file") {
		t.Errorf("f: %q", msg)
	}

	r = env.Apply("steps:\n  - {name: f, hosts: h1, task: file, with: {path: relative, mode: 999}}\n")
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, "mode: want octal permissions") {
		t.Errorf("bad mode should fail validation: %s", r)
	}
}

func assertFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != content {
		t.Errorf("%s = %q, want %q", p, data, content)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != mode {
		t.Errorf("%s mode = %v, want %v", p, st.Mode().Perm(), mode)
	}
}

// A service user who owns the parent of a directory runbook manages swaps
// the directory for a symlink to a root-only directory while runbook sets
// its mode and owner: the root-only directory keeps its own.
func TestFileDirectoryHostileSwap(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	env := tasktest.New(t)
	top := hostile.Dir(t)
	private := filepath.Join(top, "private")
	if err := os.Mkdir(private, 0o700); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(top, "app")
	if err := os.Mkdir(app, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, app)
	d := filepath.Join(app, "data")
	hostile.Start(t, fmt.Sprintf(`while :; do
  rm -f %[2]s; mkdir -m 700 %[2]s; rmdir %[2]s; ln -s %[1]s %[2]s
done 2>/dev/null`, private, d))
	for i := range 30 {
		mode := []string{"0755", "0750"}[i%2]
		env.Apply(fmt.Sprintf("steps:\n  - {name: d, hosts: h1, task: file, with: {path: %s, state: directory, mode: %q, owner: %d}}\n", d, mode, hostile.UID))
	}
	var st syscall.Stat_t
	if err := syscall.Stat(private, &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != 0 || st.Mode&0o7777 != 0o700 {
		t.Fatalf("the root-only directory is now uid %d mode %04o: runbook followed the hostile user's symlink", st.Uid, st.Mode&0o7777)
	}
}

// chown clears setuid and setgid: a change of owner alone keeps them, and
// a setgid directory given a plain mode loses the bit and converges.
func TestFileSpecialBits(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: changing ownership needs root (CI runs as root)")
	}
	env := tasktest.New(t)
	p := filepath.Join(env.Dir, "tool")
	os.WriteFile(p, []byte("x"), 0o755)
	os.Chmod(p, 0o755|fs.ModeSetuid)
	d := filepath.Join(env.Dir, "shared")
	os.Mkdir(d, 0o755)
	os.Chmod(d, 0o755|fs.ModeSetgid)
	rb := fmt.Sprintf(`steps:
  - {name: f, hosts: h1, task: file, with: {path: %s, owner: nobody, mode: "4755"}}
  - {name: d, hosts: h1, task: file, with: {path: %s, state: directory, mode: "0755"}}
`, p, d)
	if r := env.Apply(rb); r.Exit != 0 {
		t.Fatalf("%s", r)
	}
	if st, _ := os.Stat(p); st.Mode()&fs.ModeSetuid == 0 {
		t.Errorf("%s lost setuid when its owner changed: %v", p, st.Mode())
	}
	if r := env.Apply(rb, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}
}

// touch creates a missing file and then leaves its content and times
// alone: only its mode and owner are kept as asked.
func TestFileTouchTimeline(t *testing.T) {
	env := tasktest.New(t)
	p := filepath.Join(env.Dir, "ready")
	rb := fmt.Sprintf("steps:\n  - {name: t, hosts: h1, task: file, with: {path: %s, state: touch, mode: \"0600\"}}\n", p)
	if r := env.Apply(rb, "--check"); r.Exit != tasktest.ExitDrift || !slices.Contains(r.Result("t").Changes, "+ create empty "+p+" (0600)") {
		t.Fatalf("first check: %s", r)
	}
	if _, err := os.Lstat(p); !os.IsNotExist(err) {
		t.Fatalf("check mode created the file: %v", err)
	}
	if r := env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	assertFile(t, p, "", 0o600)
	if r := env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}
	// Content written by whoever uses the file is theirs; its mode is not.
	os.WriteFile(p, []byte("written by the app"), 0o600)
	old := time.Now().Add(-time.Hour).Truncate(time.Second)
	os.Chtimes(p, old, old)
	if r := env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("content is not touch's: %s", r)
	}
	os.Chmod(p, 0o644)
	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || !slices.Contains(r.Result("t").Changes, "~ mode 0644 -> 0600") {
		t.Fatalf("drift check: %s", r)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("repair: %s", r)
	}
	assertFile(t, p, "written by the app", 0o600)
	if st, _ := os.Stat(p); !st.ModTime().Equal(old) {
		t.Errorf("touch changed the file's mtime: %v, was %v", st.ModTime(), old)
	}
}
