package blockinfile_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/blockinfile"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

const sshd = "Port 22\nPermitRootLogin no\nInclude /etc/ssh/sshd_config.d/*.conf\nSubsystem sftp internal-sftp\n"

func TestBlockinfileTimeline(t *testing.T) {
	env := tasktest.New(t)
	conf := filepath.Join(env.Dir, "sshd_config")
	os.WriteFile(conf, []byte(sshd), 0o600)
	os.Chown(conf, 65534, 65534)
	created := filepath.Join(env.Dir, "hosts.extra")
	rb := fmt.Sprintf(`
steps:
  - name: match
    hosts: h1
    task: blockinfile
    with:
      path: %[1]s
      insertafter: "^PermitRootLogin"
      block: |
        Match User backup
          PasswordAuthentication no
  - {name: created, hosts: h1, task: blockinfile, with: {path: %[2]s, block: "10.0.0.1 db", create: true, mode: "0640", owner: nobody, group: nogroup}}
`, conf, created)
	want := "Port 22\nPermitRootLogin no\n# BEGIN MANAGED BY RUNBOOK\nMatch User backup\n  PasswordAuthentication no\n# END MANAGED BY RUNBOOK\n" +
		"Include /etc/ssh/sshd_config.d/*.conf\nSubsystem sftp internal-sftp\n"

	before := tasktest.Snapshot(t, env.Dir)
	r := env.Apply(rb, "--check", "--diff")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(r.Result("match").Diff, "+# BEGIN MANAGED BY RUNBOOK\n+Match User backup\n") ||
		!strings.Contains(r.Result("created").Diff, "+10.0.0.1 db") {
		t.Fatalf("first check: %s", r)
	}
	if tasktest.Snapshot(t, env.Dir) != before {
		t.Fatal("check mode changed the host")
	}
	if r = env.Apply(rb); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	assertFile(t, conf, want, 0o600, 65534)
	assertFile(t, created, "# BEGIN MANAGED BY RUNBOOK\n10.0.0.1 db\n# END MANAGED BY RUNBOOK\n", 0o640, 65534)
	if r = env.Apply(rb, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}

	// Drift: an edit inside the block by hand, then the block removed.
	for i, drifted := range []string{
		strings.Replace(want, "PasswordAuthentication no", "PasswordAuthentication yes", 1),
		sshd,
	} {
		os.WriteFile(conf, []byte(drifted), 0o600)
		r = env.Apply(rb, "--check", "--diff")
		st := r.Statuses()
		if r.Exit != tasktest.ExitDrift || st["match"] != engine.Changed || st["created"] != engine.OK {
			t.Fatalf("drift %d: %v\n%s", i, st, r)
		}
		if i == 0 && !strings.Contains(r.Result("match").Diff, "-  PasswordAuthentication yes\n+  PasswordAuthentication no\n") {
			t.Errorf("drift %d: diff\n%s", i, r.Result("match").Diff)
		}
		if r = env.Apply(rb); r.Exit != 0 {
			t.Fatalf("drift %d: apply: %s", i, r)
		}
		assertFile(t, conf, want, 0o600, 65534)
		if r = env.Apply(rb, "--check"); r.Exit != 0 {
			t.Fatalf("drift %d: check after apply: %s", i, r)
		}
	}
}

// A new block goes after or before the last line insertafter or
// insertbefore matches (at the end when none does), as Ansible's
// blockinfile places it; one already in the file stays where it is.
func TestBlockinfileInsertAfterBefore(t *testing.T) {
	env := tasktest.New(t)
	const text = "a\nx1\nb\nx2\nc\n"
	block := func(s string) string { return "# BEGIN MANAGED BY RUNBOOK\n" + s + "# END MANAGED BY RUNBOOK\n" }
	cases := []struct {
		name, with, text, want string
	}{
		{"after", `insertafter: "^x"`, text, "a\nx1\nb\nx2\n" + block("n\n") + "c\n"},
		{"before", `insertbefore: "^x"`, text, "a\nx1\nb\n" + block("n\n") + "x2\nc\n"},
		{"bof", `insertbefore: BOF`, text, block("n\n") + text},
		{"eof", `insertafter: EOF`, text, text + block("n\n")},
		{"default", ``, text, text + block("n\n")},
		{"nomatch_after", `insertafter: "^y"`, text, text + block("n\n")},
		{"nomatch_before", `insertbefore: "^y"`, text, text + block("n\n")},
		{"in_place", `insertbefore: BOF`, "a\n" + block("old\nold2\n") + "c\n", "a\n" + block("n\n") + "c\n"},
		{"no_newline", `insertafter: "^x"`, "a\nx", "a\nx\n" + block("n\n")},
		{"marker", `marker: "; {mark} ntp", marker_begin: start, marker_end: stop`, "[main]\n", "[main]\n; start ntp\nn\n; stop ntp\n"},
		{"two_markers", `marker: "# {mark} two"`, block("one\n"), block("one\n") + "# BEGIN two\nn\n# END two\n"},
	}
	var rb strings.Builder
	rb.WriteString("steps:\n")
	for _, c := range cases {
		p := filepath.Join(env.Dir, c.name)
		os.WriteFile(p, []byte(c.text), 0o644)
		fmt.Fprintf(&rb, "  - {name: %s, hosts: h1, task: blockinfile, with: {path: %s, block: n, %s}}\n", c.name, p, c.with)
	}
	r := env.Apply(rb.String(), "--check", "--diff")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(r.Result("in_place").Diff, "-old\n-old2\n+n\n") {
		t.Fatalf("check: %s", r)
	}
	if r = env.Apply(rb.String()); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	for _, c := range cases {
		if got, _ := os.ReadFile(filepath.Join(env.Dir, c.name)); string(got) != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
	if r = env.Apply(rb.String(), "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}
}

// state: absent, or an empty block, removes the block with its markers;
// a file without it, or none at all, is left as it is.
func TestBlockinfileAbsent(t *testing.T) {
	env := tasktest.New(t)
	const with = "a\n# BEGIN MANAGED BY RUNBOOK\nx\ny\n# END MANAGED BY RUNBOOK\nb\n"
	files := map[string]string{"absent": with, "empty": with, "without": "a\nb\n"}
	for name, text := range files {
		os.WriteFile(filepath.Join(env.Dir, name), []byte(text), 0o640)
	}
	rb := fmt.Sprintf(`
steps:
  - {name: absent, hosts: h1, task: blockinfile, with: {path: %[1]s/absent, block: x, state: absent}}
  - {name: empty, hosts: h1, task: blockinfile, with: {path: %[1]s/empty, block: ""}}
  - {name: without, hosts: h1, task: blockinfile, with: {path: %[1]s/without, state: absent}}
  - {name: missing, hosts: h1, task: blockinfile, with: {path: %[1]s/missing, state: absent}}
`, env.Dir)
	r := env.Apply(rb, "--check", "--diff")
	st := r.Statuses()
	if r.Exit != tasktest.ExitDrift || st["absent"] != engine.Changed || st["empty"] != engine.Changed || st["without"] != engine.OK || st["missing"] != engine.OK ||
		!strings.Contains(r.Result("absent").Diff, "-# BEGIN MANAGED BY RUNBOOK\n-x\n-y\n-# END MANAGED BY RUNBOOK\n") {
		t.Fatalf("check: %v\n%s", st, r)
	}
	if r = env.Apply(rb); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	for name := range files {
		assertFile(t, filepath.Join(env.Dir, name), "a\nb\n", 0o640, 0)
	}
	if _, err := os.Lstat(filepath.Join(env.Dir, "missing")); err == nil {
		t.Error("state: absent created the missing file")
	}
	if r = env.Apply(rb, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}
}

// Markers that do not pair up are an error that names the file and line,
// in check mode as in a real run, and the file is left alone: which lines
// are the block would be a guess.
func TestBlockinfileBrokenMarkers(t *testing.T) {
	env := tasktest.New(t)
	const begin, end = "# BEGIN MANAGED BY RUNBOOK\n", "# END MANAGED BY RUNBOOK\n"
	cases := []struct{ name, text, want string }{
		{"no_end", "a\n" + begin + "x\n", `no_end:2: "# BEGIN MANAGED BY RUNBOOK" has no "# END MANAGED BY RUNBOOK" after it`},
		{"no_begin", "a\nb\n" + end, `no_begin:3: "# END MANAGED BY RUNBOOK" has no "# BEGIN MANAGED BY RUNBOOK" before it`},
		{"reversed", end + "x\n" + begin, `reversed:1: "# END MANAGED BY RUNBOOK" has no`},
		{"two", begin + "x\n" + end + "a\n" + begin + "y\n" + end, `two:5: a second "# BEGIN MANAGED BY RUNBOOK" (the first is on line 1)`},
		{"two_ends", begin + "x\n" + end + end, `two_ends:4: a second "# END MANAGED BY RUNBOOK" (the first is on line 3)`},
	}
	for _, c := range cases {
		p := filepath.Join(env.Dir, c.name)
		os.WriteFile(p, []byte(c.text), 0o644)
		rb := fmt.Sprintf("steps:\n  - {name: b, hosts: h1, task: blockinfile, with: {path: %s, block: n}}\n", p)
		for _, flags := range [][]string{{"--check"}, nil} {
			r := env.Apply(rb, flags...)
			if msg := r.Result("b").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, p+":") || !strings.Contains(msg, c.want) {
				t.Errorf("%s %v: want an error with %q, got %s", c.name, flags, c.want, r)
			}
		}
		if got, _ := os.ReadFile(p); string(got) != c.text {
			t.Errorf("%s: the file changed: %q", c.name, got)
		}
	}
}

func TestBlockinfileValidation(t *testing.T) {
	env := tasktest.New(t)
	for with, want := range map[string]string{
		`block: x, marker: "# managed"`:                       `marker "# managed" must contain {mark}`,
		`block: x, insertafter: "^a", insertbefore: BOF`:      "insertafter or insertbefore, not both",
		`block: x, insertafter: BOF`:                          "write insertbefore: BOF",
		`block: x, marker_begin: X, marker_end: X`:            "give them different words",
		`block: "a\n# END MANAGED BY RUNBOOK\nb"`:             `line 2 of block is the marker line "# END MANAGED BY RUNBOOK"`,
		`block: x, state: gone`:                               "state must be present or absent",
		`state: absent, insertbefore: "^a"`:                   "insertbefore is used only with state: present",
		`block: x, marker: "{mark}\nx"`:                       "marker must be a single line",
		`block: x, insertbefore: "("`:                         "insertbefore: error parsing regexp",
		`block: x, create: true, mode: "0644", owner: nobody`: "",
	} {
		r := env.Apply(fmt.Sprintf("steps:\n  - {name: b, hosts: h1, task: blockinfile, with: {path: %s/f, %s}}\n", env.Dir, with), "--check")
		if want == "" {
			if r.Exit != tasktest.ExitDrift {
				t.Errorf("%s: want it accepted, got %s", with, r)
			}
			continue
		}
		if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, want) || r.Result("b").Step != "" {
			t.Errorf("%s: want a validation error saying %q, got %s", with, want, r)
		}
	}
}

func assertFile(t *testing.T, p, content string, mode os.FileMode, uid uint32) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != content {
		t.Errorf("%s =\n%s\nwant\n%s", p, data, content)
	}
	st, _ := os.Stat(p)
	if st.Mode().Perm() != mode {
		t.Errorf("%s: mode %v, want %v", p, st.Mode().Perm(), mode)
	}
	if got := st.Sys().(*syscall.Stat_t).Uid; got != uid {
		t.Errorf("%s: owner %d, want %d", p, got, uid)
	}
}
