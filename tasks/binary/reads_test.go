package binary_test

import (
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/tasks/tasktest"
)

// hosts is how many hosts check the same artifact at once.
const hosts = 4

// checkOnHosts runs rb in check mode on local hosts h1..h4, at once, and
// expects drift (every host lacks the binary).
func checkOnHosts(t *testing.T, rb string) {
	t.Helper()
	if r := tasktest.NewLocal(t, hosts).Apply(rb, "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("exit %d, want %d (drift)\n%s", r.Exit, tasktest.ExitDrift, r)
	}
}

// readBytes is how many bytes this process has read so far, from files,
// pipes and sockets alike (rchar in /proc/self/io).
func readBytes(t *testing.T) int64 {
	t.Helper()
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		t.Skipf("cannot count reads: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "rchar: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no rchar in /proc/self/io:\n%s", data)
	return 0
}

// big is an executable large enough that reading it once more than needed
// stands out from everything else a check run reads.
func big() []byte {
	b := make([]byte, 4<<20)
	rand.Read(b)
	return append([]byte("#!/bin/sh\nexit 0\n"), b...)
}

// Hosts that check the same artifact at once share one reading of it: it
// is hashed once per run, not once per host. The test counts the bytes the
// run reads, which a read of the artifact per host would multiply.
func TestArtifactIsReadOncePerRun(t *testing.T) {
	t.Run("src", func(t *testing.T) {
		t.Setenv("RUNBOOK_CACHE", t.TempDir())
		exe := big()
		src := filepath.Join(t.TempDir(), "tool")
		os.WriteFile(src, exe, 0o755)
		rb := fmt.Sprintf("steps:\n  - {name: b, hosts: all, task: binary, with: {src: %s, sha256: %s, dest: %s}}\n",
			src, sum(exe), filepath.Join(t.TempDir(), "tool"))
		before := readBytes(t)
		checkOnHosts(t, rb)
		if read := readBytes(t) - before; read > int64(len(exe))*3/2 {
			t.Errorf("%d hosts read %.1f times the size of src, want it read once", hosts, float64(read)/float64(len(exe)))
		}
	})
	t.Run("url and member", func(t *testing.T) {
		cache := t.TempDir()
		t.Setenv("RUNBOOK_CACHE", cache)
		exe := big()
		archive := tarGz("consul", exe)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(archive) }))
		defer srv.Close()
		rb := fmt.Sprintf("steps:\n  - {name: b, hosts: all, task: binary, with: {url: %s/consul.tar.gz, sha256: %s, member: consul, dest: %s}}\n",
			srv.URL, sum(archive), filepath.Join(t.TempDir(), "consul"))
		checkOnHosts(t, rb) // downloads and extracts into the cache
		// A later run (a new process) reads the cache afresh: so does this
		// process once the files look changed.
		later := time.Now().Add(time.Minute)
		for _, p := range []string{filepath.Join(cache, "downloads", sum(archive)), filepath.Join(cache, "extracted", sum(archive), "consul")} {
			if err := os.Chtimes(p, later, later); err != nil {
				t.Fatal(err)
			}
		}
		before := readBytes(t)
		checkOnHosts(t, rb)
		// The archive, to verify it; the member, to compare with the hosts'.
		once := int64(len(archive) + len(exe))
		if read := readBytes(t) - before; read > once+int64(len(exe))/2 {
			t.Errorf("%d hosts read %.1f times the size of the cached archive and member, want each read once", hosts, float64(read)/float64(once))
		}
	})
}
