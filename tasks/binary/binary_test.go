package binary_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	_ "github.com/runbookdev/runbook/tasks/binary"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func tarGz(name string, content []byte) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(content)), Typeflag: tar.TypeReg})
	tw.Write(content)
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestBinaryFromURLAndArchive(t *testing.T) {
	t.Setenv("RUNBOOK_CACHE", t.TempDir())
	env := tasktest.New(t)
	exe := []byte("#!/bin/sh\necho v1.22.5\n")
	archive := tarGz("consul", exe)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/consul":
			w.Write(exe)
		case "/consul.tar.gz":
			w.Write(archive)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	plain := filepath.Join(env.Dir, "consul")
	fromArchive := filepath.Join(env.Dir, "consul2")
	rb := fmt.Sprintf(`
steps:
  - {name: plain, hosts: h1, task: binary, with: {url: %[1]s/consul, sha256: %[2]s, dest: %[3]s}}
  - {name: archive, hosts: h1, task: binary, with: {url: %[1]s/consul.tar.gz, sha256: %[4]s, member: consul, dest: %[5]s}}
`, srv.URL, sum(exe), plain, sum(archive), fromArchive)
	if r := env.Apply(rb, "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("first check: %s", r)
	}
	if _, err := os.Stat(plain); err == nil {
		t.Fatal("check mode installed")
	}
	if r := env.Apply(rb); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	for _, p := range []string{plain, fromArchive} {
		got, _ := os.ReadFile(p)
		st, _ := os.Stat(p)
		if !bytes.Equal(got, exe) || st.Mode().Perm() != 0o755 {
			t.Errorf("%s: %q %v", p, got, st.Mode())
		}
	}
	if r := env.Apply(rb, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}
	if n := hits.Load(); n != 2 {
		t.Errorf("%d downloads, want 2: the cache should serve later runs", n)
	}
	os.WriteFile(plain, []byte("tampered"), 0o755)
	if r := env.Apply(rb, "--check"); r.Exit != tasktest.ExitDrift || r.Statuses()["plain"] != "changed" || r.Statuses()["archive"] != "ok" {
		t.Fatalf("drift: %s", r)
	}
}

func TestBinaryHashMismatchInstallsNothing(t *testing.T) {
	t.Setenv("RUNBOOK_CACHE", t.TempDir())
	env := tasktest.New(t)
	src := filepath.Join(t.TempDir(), "tool")
	os.WriteFile(src, []byte("real"), 0o755)
	dest := filepath.Join(env.Dir, "tool")
	r := env.Apply(fmt.Sprintf("steps:\n  - {name: b, hosts: h1, task: binary, with: {src: %s, sha256: %s, dest: %s}}\n", src, sum([]byte("other")), dest))
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Result("b").Message, "nothing installed") {
		t.Fatalf("%s", r)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Fatal("installed despite the mismatch")
	}
}
