// Package toolbin finds, for tests, the server binaries runbook builds from
// the Go module proxy into the machine's cache (scripts/NAME.sh, from the
// module tools/NAME): Consul and Vault.
package toolbin

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Tool names a binary built by scripts/NAME.sh from tools/NAME.
type Tool struct {
	Name   string // consul: the binary, tools/NAME and scripts/NAME.sh
	Module string // the module tools/NAME requires, whose version names the cache
	Env    string // a variable that may name the binary, e.g. RUNBOOK_CONSUL
	Needs  string // what the test needs, for the skip message: "a Consul agent"
}

// Find returns the binary: $Env, then the one scripts/NAME.sh built into
// the machine's cache, then $PATH. When there is none the test is skipped,
// loudly, or under CI, where the script is run to build it (once per
// machine).
func Find(t testing.TB, tool Tool) string {
	t.Helper()
	if p := os.Getenv(tool.Env); p != "" {
		return p
	}
	root, version := moduleRoot(t, tool)
	cache := os.Getenv("RUNBOOK_CACHE_DIR")
	if cache == "" {
		cache = "/var/cache/runbook"
	}
	if p := filepath.Join(cache, tool.Name, version, tool.Name); executable(p) {
		return p
	}
	if p, err := exec.LookPath(tool.Name); err == nil {
		return p
	}
	if os.Getenv("CI") != "" {
		out, err := exec.Command(filepath.Join(root, "scripts", tool.Name+".sh")).Output()
		if err != nil {
			t.Fatalf("build %s with scripts/%s.sh: %v", tool.Name, tool.Name, err)
		}
		return strings.TrimSpace(string(out))
	}
	t.Skipf("SKIPPED: this test needs %s and there is no %s binary: run `make %s` (builds it once per machine) or set %s",
		tool.Needs, tool.Name, tool.Name, tool.Env)
	return ""
}

// moduleRoot finds the repository above the test's directory, and the
// version of tool.Module that tools/NAME/go.mod requires.
func moduleRoot(t testing.TB, tool Tool) (root, version string) {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "tools", tool.Name, "go.mod")); err == nil {
			sc := bufio.NewScanner(strings.NewReader(string(data)))
			for sc.Scan() {
				f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(sc.Text()), "require "))
				if len(f) >= 2 && f[0] == tool.Module {
					return dir, strings.TrimPrefix(f[1], "v")
				}
			}
			t.Fatalf("%s/tools/%s/go.mod does not require %s", dir, tool.Name, tool.Module)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("cannot find runbook's tools/%s above the test's directory", tool.Name)
		}
		dir = parent
	}
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0
}

// Tail is the end of a log file, for a message saying why a server did
// not start.
func Tail(file string) string {
	data, _ := os.ReadFile(file)
	if len(data) > 2000 {
		data = data[len(data)-2000:]
	}
	return string(data)
}
