package stat_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/all"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"gopkg.in/yaml.v3"
)

// hostile is a name with a leading dash, quotes, a newline and a command
// substitution in it: stat must find that file, and no other.
const hostile = "-rf 'x\"\n$(touch pwned)"

// TestStatRegistersWhatAPathIs stats a file, a directory, a symbolic link
// (followed and not), a missing path and one with a hostile name, uses
// what was registered in later steps' when and assert, and finds the same
// in check mode, where nothing changes.
func TestStatRegistersWhatAPathIs(t *testing.T) {
	env := tasktest.New(t)
	file := filepath.Join(env.Dir, "app.conf")
	dir := filepath.Join(env.Dir, "conf.d")
	link := filepath.Join(env.Dir, "current")
	odd := filepath.Join(env.Dir, hostile)
	oddLink := filepath.Join(env.Dir, "odd-link")
	must(t, os.WriteFile(file, []byte("port = 80\n"), 0o640))
	must(t, os.Chmod(file, 0o640))
	must(t, os.Mkdir(dir, 0o750))
	must(t, syscall.Chmod(dir, 0o2750))
	must(t, os.Symlink("app.conf", link))
	must(t, os.WriteFile(odd, []byte("odd\n"), 0o600))
	must(t, os.Symlink(hostile, oddLink))
	rb := fmt.Sprintf(`
steps:
  - {name: file, hosts: h1, task: stat, with: {path: %[1]q, checksum: true}, register: file}
  - {name: dir, hosts: h1, task: stat, with: {path: %[2]q}, register: dir}
  - {name: link, hosts: h1, task: stat, with: {path: %[3]q}, register: link}
  - {name: followed, hosts: h1, task: stat, with: {path: %[3]q, follow: true, checksum: true}, register: followed}
  - {name: missing, hosts: h1, task: stat, with: {path: %[4]q, checksum: true}, register: missing}
  - {name: odd, hosts: h1, task: stat, with: {path: %[5]q, checksum: true}, register: odd}
  - {name: odd link, hosts: h1, task: stat, with: {path: %[6]q}, register: odd_link}
  - {name: show, hosts: h1, task: debug, with: {var: file}}
  - {name: show dir, hosts: h1, task: debug, with: {var: dir}}
  - {name: show link, hosts: h1, task: debug, with: {var: link}}
  - {name: show followed, hosts: h1, task: debug, with: {var: followed}}
  - {name: show missing, hosts: h1, task: debug, with: {var: missing}}
  - {name: show odd, hosts: h1, task: debug, with: {var: odd}}
  - {name: show odd link, hosts: h1, task: debug, with: {var: odd_link}}
  - name: when private
    hosts: h1
    task: assert
    when: 'and .file.exists (eq .file.type "file") (eq .file.mode "0640") (eq .link.type "link") (eq .followed.sha256 .file.sha256)'
    with: {cmd: 'test "{{ .dir.type }} {{ .dir.mode }} {{ .missing.exists }}" = "directory 2750 false"'}
  - {name: when missing, hosts: h1, task: assert, when: .missing.exists, with: {cmd: "false"}}
`, file, dir, link, filepath.Join(env.Dir, "none"), odd, oddLink)

	sum := sha256.Sum256([]byte("port = 80\n"))
	fileSum := hex.EncodeToString(sum[:])
	sum = sha256.Sum256([]byte("odd\n"))
	oddSum := hex.EncodeToString(sum[:])
	// The files are the test's, and the host's user is the test's.
	me, err := user.Current()
	must(t, err)
	owned := func(p, typ, mode string, size int64) map[string]any {
		st := lstat(t, p)
		return map[string]any{
			"exists": true, "path": p, "type": typ, "mode": mode, "uid": os.Getuid(), "gid": os.Getgid(), "owner": me.Username, "group": group(t, os.Getgid()),
			"size": size, "mtime": st.Mtim.Sec,
		}
	}
	want := map[string]map[string]any{
		"file":     with(owned(file, "file", "0640", 10), "sha256", fileSum),
		"dir":      owned(dir, "directory", "2750", lstat(t, dir).Size),
		"link":     with(owned(link, "link", "0777", int64(len("app.conf"))), "link_target", "app.conf"),
		"followed": with(with(owned(file, "file", "0640", 10), "sha256", fileSum), "path", link, "link_target", "app.conf"),
		"missing":  {"exists": false, "path": filepath.Join(env.Dir, "none")},
		"odd":      with(owned(odd, "file", "0600", 4), "sha256", oddSum),
		"odd_link": with(owned(oddLink, "link", "0777", int64(len(hostile))), "link_target", hostile),
	}
	for _, mode := range []string{"apply", "check"} {
		var flags []string
		if mode == "check" {
			flags = append(flags, "--check")
		}
		before := tasktest.Snapshot(t, env.Dir)
		r := env.Apply(rb, flags...)
		if r.Exit != tasktest.ExitOK {
			t.Fatalf("%s: %s", mode, r)
		}
		if tasktest.Snapshot(t, env.Dir) != before {
			t.Fatalf("%s: stat changed the host", mode)
		}
		st := r.Statuses()
		for _, step := range []string{"file", "dir", "link", "followed", "missing", "odd", "odd link", "when private"} {
			if st[step] != engine.OK {
				t.Errorf("%s: step %s is %s, want ok", mode, step, st[step])
			}
		}
		if st["when missing"] != engine.Skipped {
			t.Errorf("%s: when .missing.exists: %s, want skipped", mode, st["when missing"])
		}
		for name, w := range want {
			step := "show " + strings.ReplaceAll(name, "_", " ")
			if name == "file" {
				step = "show"
			}
			var got map[string]map[string]any
			if err := yaml.Unmarshal([]byte(r.Result(step).Message), &got); err != nil {
				t.Fatalf("%s: %s: %v: %q", mode, step, err, r.Result(step).Message)
			}
			if d := cmp.Diff(w, registered(got[name])); d != "" {
				t.Errorf("%s: %s registered (-want +got):\n%s", mode, name, d)
			}
		}
	}
}

// A relative path is refused before anything runs, naming the parameter.
func TestStatRelativePath(t *testing.T) {
	env := tasktest.New(t)
	r := env.Apply("steps:\n  - {name: s, hosts: h1, task: stat, with: {path: etc/passwd}, register: s}\n")
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr+r.String(), `path "etc/passwd" must be absolute`) {
		t.Fatalf("%s", r)
	}
}

// registered is what stat registered, less what the engine adds to every
// registered value, with YAML's numbers as the module's.
func registered(v map[string]any) map[string]any {
	out := map[string]any{}
	for k, x := range v {
		switch k {
		case "changed", "failed", "skipped", "status", "msg":
			continue
		case "size", "mtime":
			x = int64(x.(int))
		}
		out[k] = x
	}
	return out
}

func with(m map[string]any, kv ...any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

func lstat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	var st syscall.Stat_t
	must(t, syscall.Lstat(p, &st))
	return &st
}

func group(t *testing.T, gid int) string {
	g, err := user.LookupGroupId(fmt.Sprint(gid))
	if err != nil {
		t.Fatal(err)
	}
	return g.Name
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
