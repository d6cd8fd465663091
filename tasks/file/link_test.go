package file_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

func TestFileLinkTimeline(t *testing.T) {
	env := tasktest.New(t)
	target := filepath.Join(env.Dir, "app-1.2")
	other := filepath.Join(env.Dir, "app-1.1")
	for _, d := range []string{target, other} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	current := filepath.Join(env.Dir, "current")
	inWay := filepath.Join(env.Dir, "lib.so")
	if err := os.WriteFile(inWay, []byte("a copy, not a link"), 0o644); err != nil {
		t.Fatal(err)
	}
	rb := fmt.Sprintf(`
steps:
  - {name: current, hosts: h1, task: file, with: {path: %s, state: link, src: %s}}
  - {name: lib, hosts: h1, task: file, with: {path: %s, state: link, src: "lib.so.1\nodd", force: true}}
`, current, target, inWay)
	links := func() (string, string) {
		a, _ := os.Readlink(current)
		b, _ := os.Readlink(inWay)
		return a, b
	}

	before := tasktest.Snapshot(t, env.Dir)
	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift {
		t.Fatalf("first check: want exit 2\n%s", r)
	}
	want := map[string]engine.Status{"current": engine.Changed, "lib": engine.Changed}
	if diff := cmp.Diff(want, r.Statuses()); diff != "" {
		t.Errorf("first check (-want +got):\n%s\n%s", diff, r)
	}
	if got := r.Result("current").Changes; !slices.Contains(got, "+ link "+current+" -> "+target) {
		t.Errorf("current changes = %q", got)
	}
	if got := r.Result("lib").Changes; !slices.Contains(got, "~ replace file "+inWay+" with a link -> lib.so.1\nodd") {
		t.Errorf("lib changes = %q", got)
	}
	if after := tasktest.Snapshot(t, env.Dir); after != before {
		t.Fatalf("check mode changed the host:\n%s\n->\n%s", before, after)
	}

	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if a, b := links(); a != target || b != "lib.so.1\nodd" {
		t.Fatalf("links after apply: %q, %q", a, b)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: want exit 0 (no change)\n%s", r)
	}

	// Drift by hand: current points at the old release, and lib.so is a
	// file again.
	os.Remove(current)
	if err := os.Symlink(other, current); err != nil {
		t.Fatal(err)
	}
	os.Remove(inWay)
	os.WriteFile(inWay, []byte("copied back"), 0o644)
	r = env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift {
		t.Fatalf("drift check: want exit 2\n%s", r)
	}
	if got := r.Result("current").Changes; !slices.Contains(got, "~ link "+current+" -> "+target+", was -> "+other) {
		t.Errorf("drift changes = %q", got)
	}
	if a, _ := links(); a != other {
		t.Fatalf("check mode changed the link: %q", a)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("repair: %s", r)
	}
	if a, b := links(); a != target || b != "lib.so.1\nodd" {
		t.Fatalf("links after repair: %q, %q", a, b)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("after repair: %s", r)
	}
}

// A link whose target another user controls is judged by what it holds,
// not by where it leads: one to the right path is ok whatever is there,
// and a dangling one is replaced like any other.
func TestFileLinkIsNotFollowed(t *testing.T) {
	env := tasktest.New(t)
	link := filepath.Join(env.Dir, "l")
	if err := os.Symlink("/nonexistent/a", link); err != nil {
		t.Fatal(err)
	}
	rb := fmt.Sprintf("steps:\n  - {name: l, hosts: h1, task: file, with: {path: %s, state: link, src: /nonexistent/a}}\n", link)
	if r := env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("a dangling link to src is as asked: %s", r)
	}
	rb = strings.Replace(rb, "/nonexistent/a}", "/nonexistent/b}", 1)
	if r := env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("l").Status != engine.Changed {
		t.Fatalf("%s", r)
	}
	if got, _ := os.Readlink(link); got != "/nonexistent/b" {
		t.Fatalf("link = %q", got)
	}
}

func TestFileLinkInTheWay(t *testing.T) {
	env := tasktest.New(t)
	file := filepath.Join(env.Dir, "f")
	os.WriteFile(file, []byte("keep me"), 0o644)
	dir := filepath.Join(env.Dir, "d")
	os.Mkdir(dir, 0o755)
	for with, want := range map[string]string{
		fmt.Sprintf("{path: %s, state: link, src: /etc/hostname}", file):    "is a file, not a link: give force: true to replace it",
		fmt.Sprintf("{path: %s, state: link, src: /etc, force: true}", dir): "is a directory, not a link: remove it first (state: absent); force does not replace a directory",
		fmt.Sprintf("{path: %s/no/l, state: link, src: /etc}", env.Dir):     "directory " + env.Dir + "/no does not exist",
	} {
		r := env.Apply("steps:\n  - {name: l, hosts: h1, task: file, with: " + with + "}\n")
		if msg := r.Result("l").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want %q\n%s", with, msg, want, r)
		}
	}
	if got, _ := os.ReadFile(file); string(got) != "keep me" {
		t.Errorf("the file in the way changed: %q", got)
	}
	if st, err := os.Lstat(dir); err != nil || !st.IsDir() {
		t.Errorf("the directory in the way changed: %v %v", st, err)
	}
}

func TestFileParamErrors(t *testing.T) {
	env := tasktest.New(t)
	for with, want := range map[string]string{
		"{path: /x, state: link}":                           "state: link needs src",
		"{path: /x, state: link, src: /y, mode: 0644}":      "mode, owner and group do not apply to state: link",
		"{path: /x, src: /y}":                               "src goes with state: link, not present",
		"{path: /x, state: directory, force: true}":         "force goes with state: link, not directory",
		"{path: /x, state: touch, content: x}":              "content goes with state: present, not touch",
		"{path: /x, recurse: true, mode: 0644}":             "recurse goes with state: directory, not present",
		"{path: /x, state: directory, recurse: true}":       "recurse needs owner, group or mode",
		"{path: /x, state: linked, src: /y}":                "state must be present, directory, link, touch or absent",
		"{path: /x, state: absent, recurse: true, mode: 1}": "mode, owner and group do not apply to state: absent",
	} {
		r := env.Apply("steps:\n  - {name: f, hosts: h1, task: file, with: " + with + "}\n")
		if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, want) {
			t.Errorf("%s: want an error %q before anything runs, got\n%s", with, want, r)
		}
	}
}
