package unarchive_test

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/sshtest"
	_ "github.com/runbookdev/runbook/tasks/all"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

type entry struct {
	name, body, link string
	mode             int64
	dir, hard        bool
}

var release = []entry{
	{name: "app/", dir: true, mode: 0o755},
	{name: "app/bin/", dir: true, mode: 0o750},
	{name: "app/bin/run", body: "#!/bin/sh\necho run\n", mode: 0o755},
	{name: "app/app.conf", body: "port = 80\n", mode: 0o640},
	{name: "app/current", link: "app.conf", mode: 0o777},
	{name: "app/run", link: "bin/run", hard: true},
}

func writeTar(t *testing.T, file string, es []entry) {
	t.Helper()
	f, err := os.Create(file)
	must(t, err)
	gz := gzip.NewWriter(f)
	tw := tar.NewWriter(gz)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: time.Unix(1700000000, 0), Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		switch {
		case e.dir:
			h.Typeflag = tar.TypeDir
		case e.hard:
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, "app/"+e.link, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeSymlink, e.link, 0
		}
		must(t, tw.WriteHeader(h))
		_, err := tw.Write([]byte(e.body))
		must(t, err)
	}
	must(t, tw.Close())
	must(t, gz.Close())
	must(t, f.Close())
}

func writeZip(t *testing.T, file string, es []entry) {
	t.Helper()
	f, err := os.Create(file)
	must(t, err)
	zw := zip.NewWriter(f)
	for _, e := range es {
		h := &zip.FileHeader{Name: e.name, Method: zip.Deflate}
		h.SetMode(os.FileMode(e.mode))
		if e.link != "" {
			h.SetMode(os.ModeSymlink | 0o777)
		}
		w, err := zw.CreateHeader(h)
		must(t, err)
		_, err = w.Write([]byte(e.body + e.link))
		must(t, err)
	}
	must(t, zw.Close())
	must(t, f.Close())
}

// The timeline: check finds everything to extract, a run extracts it, a
// check finds nothing, drift by hand (content, mode, a link, a missing
// file) is found member by member and put right, and what dest holds
// beyond the archive is left alone.
func TestUnarchiveTimeline(t *testing.T) {
	for _, kind := range []string{"tar.gz", "zip"} {
		t.Run(kind, func(t *testing.T) {
			env := tasktest.New(t)
			archive := filepath.Join(env.Dir, "release."+kind)
			es := release
			if kind == "zip" {
				writeZip(t, archive, []entry{{name: "app/bin/run", body: "#!/bin/sh\necho run\n", mode: 0o755}, {name: "app/app.conf", body: "port = 80\n", mode: 0o640}, {name: "app/current", link: "app.conf"}})
			} else {
				writeTar(t, archive, es)
			}
			dest := filepath.Join(env.Dir, "srv")
			must(t, os.Mkdir(dest, 0o755))
			must(t, os.WriteFile(filepath.Join(dest, "mine"), []byte("kept\n"), 0o600))
			rb := fmt.Sprintf("steps:\n  - {name: x, hosts: h1, task: unarchive, with: {src: %q, dest: %q}}\n", archive, dest)

			before := tasktest.Snapshot(t, env.Dir)
			r := env.Apply(rb, "--check")
			if r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("x").Changes, "\n"), "+ app/app.conf") {
				t.Fatalf("check: %s", r)
			}
			if tasktest.Snapshot(t, env.Dir) != before {
				t.Fatal("check changed the host")
			}
			if r = env.Apply(rb); r.Exit != 0 || r.Result("x").Status != engine.Changed {
				t.Fatalf("apply: %s", r)
			}
			conf := filepath.Join(dest, "app/app.conf")
			if b, _ := os.ReadFile(conf); string(b) != "port = 80\n" {
				t.Fatalf("app.conf holds %q", b)
			}
			if st, _ := os.Stat(conf); st.Mode().Perm() != 0o640 {
				t.Errorf("app.conf mode %v", st.Mode())
			}
			if l, _ := os.Readlink(filepath.Join(dest, "app/current")); l != "app.conf" {
				t.Errorf("app/current -> %q", l)
			}
			if r = env.Apply(rb, "--check"); r.Exit != 0 || r.Result("x").Status != engine.OK {
				t.Fatalf("check after apply: %s", r)
			}

			must(t, os.WriteFile(conf, []byte("port = 81\n"), 0o640))
			must(t, os.Chmod(filepath.Join(dest, "app/bin/run"), 0o700))
			must(t, os.Remove(filepath.Join(dest, "app/current")))
			must(t, os.Symlink("elsewhere", filepath.Join(dest, "app/current")))
			r = env.Apply(rb, "--check")
			got := strings.Join(r.Result("x").Changes, "\n")
			want := "~ app/bin/run: mode 0700 -> 0755\n~ app/app.conf: content\n~ app/current: -> elsewhere, want -> app.conf"
			if r.Exit != tasktest.ExitDrift || got != want {
				t.Fatalf("drift: got\n%s\nwant\n%s\n%s", got, want, r)
			}
			if r = env.Apply(rb); r.Exit != 0 {
				t.Fatalf("apply after drift: %s", r)
			}
			if r = env.Apply(rb, "--check"); r.Exit != 0 {
				t.Fatalf("check after the second apply: %s", r)
			}
			if b, _ := os.ReadFile(filepath.Join(dest, "mine")); string(b) != "kept\n" {
				t.Errorf("a file beside the archive's: %q", b)
			}
			creates := fmt.Sprintf("steps:\n  - {name: x, hosts: h1, task: unarchive, with: {src: %q, dest: %q, creates: %q}}\n", archive, dest, filepath.Join(dest, "mine"))
			must(t, os.Remove(conf))
			if r = env.Apply(creates, "--check"); r.Exit != 0 {
				t.Fatalf("creates: %s", r)
			}
		})
	}
}

// Archives that would write outside dest are refused before anything is
// written.
func TestUnarchiveRefusesEscapes(t *testing.T) {
	env := tasktest.New(t)
	dest := filepath.Join(env.Dir, "srv")
	must(t, os.Mkdir(dest, 0o755))
	for name, es := range map[string][]entry{
		"dotdot":   {{name: "app/../../evil", body: "x", mode: 0o644}},
		"absolute": {{name: "/tmp/evil", body: "x", mode: 0o644}},
		"symlink":  {{name: "etc", link: "../../etc", mode: 0o777}},
		"abslink":  {{name: "etc", link: "/etc", mode: 0o777}},
		"through":  {{name: "etc", link: "sub", mode: 0o777}, {name: "etc/passwd", body: "x", mode: 0o644}},
		"hardlink": {{name: "pw", link: "../../etc/passwd", hard: true}},
	} {
		archive := filepath.Join(env.Dir, name+".tar.gz")
		writeTar(t, archive, es)
		before := tasktest.Snapshot(t, env.Dir)
		r := env.Apply(fmt.Sprintf("steps:\n  - {name: x, hosts: h1, task: unarchive, with: {src: %q, dest: %q}}\n", archive, dest))
		if msg := r.Result("x").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "refused") {
			t.Errorf("%s: %q\n%s", name, msg, r)
		}
		if tasktest.Snapshot(t, env.Dir) != before {
			t.Errorf("%s: the host changed", name)
		}
	}
}

// A hostile user who can write in dest plants a symbolic link where the
// archive has a directory, pointing at a root-only directory: nothing may
// be written there, and the link is replaced by the archive's directory.
func TestUnarchiveHostileSymlinkInDest(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	env := tasktest.New(t)
	top := hostile.Dir(t)
	secret := filepath.Join(top, "secret")
	must(t, os.Mkdir(secret, 0o700))
	dest := filepath.Join(top, "srv")
	must(t, os.Mkdir(dest, 0o755))
	hostile.Own(t, dest)
	hostile.Run(t, fmt.Sprintf("ln -s %s %s && ln -s %s %s", secret, filepath.Join(dest, "app"), filepath.Join(secret, "x"), filepath.Join(dest, "top.conf")))
	archive := filepath.Join(env.Dir, "release.tar.gz")
	writeTar(t, archive, append(slicesClone(release), entry{name: "top.conf", body: "top\n", mode: 0o644}))
	r := env.Apply(fmt.Sprintf("steps:\n  - {name: x, hosts: h1, task: unarchive, with: {src: %q, dest: %q}}\n", archive, dest))
	if r.Exit != 0 {
		t.Fatalf("%s", r)
	}
	if ents, _ := os.ReadDir(secret); len(ents) != 0 {
		t.Fatalf("written through the planted link: %v", ents)
	}
	if fi, err := os.Lstat(filepath.Join(dest, "app")); err != nil || !fi.IsDir() {
		t.Fatalf("app: %v %v", fi, err)
	}
	if fi, err := os.Lstat(filepath.Join(dest, "top.conf")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("top.conf: %v %v", fi, err)
	}
}

func slicesClone(es []entry) []entry { return append([]entry(nil), es...) }

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
