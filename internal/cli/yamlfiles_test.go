package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/decode/decodetest"
)

func TestExtraVarsFileRefuses(t *testing.T) {
	good := write(t, "good.yaml", "steps:\n  - {name: a, hosts: all, task: command, with: {cmd: \"true\"}}\n")
	tests := map[string]string{
		"env: prod\n---\nenv: dev\n": "vars.yaml:2:1: a second YAML document starts here",
		"token: !vault abc\n":        `vars.yaml:1:8: unknown YAML tag "!vault"`,
	}
	for content, want := range tests {
		vars := write(t, "vars.yaml", content)
		code, out, errOut := runCLI("apply", "-e", "@"+vars, good)
		if code != cli.ExitError || out != "" || !strings.Contains(errOut, want) {
			t.Errorf("-e @%q: exit %d, stderr %q, want %q", content, code, errOut, want)
		}
	}
	code, _, errOut := runCLI("apply", "-e", "{a: 1}\n---\n{b: 2}", good)
	if want := "-e #1:2:1: a second YAML document starts here"; code != cli.ExitError || !strings.Contains(errOut, want) {
		t.Errorf("inline -e: exit %d, stderr %q, want %q", code, errOut, want)
	}
}

// fakeKey has the shape of an OpenSSH private key (not a real one).
const fakeKey = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACCZc3EdaNEvvv0rQSjNNjbN48Hm911mjdXaX3rhX5zvyAAAAJD2Ew819hMP
NQAAAAtzc2gtZWQyNTUxOQAAACCZc3EdaNEvvv0rQSjNNjbN48Hm911mjdXaX3rhX5zvyA
AAAEBnwM2cQZ0ZlGHcJ8SXzGQ9pzSyc0LvUfZKfAi7CeHMkJlzcR1o0S++/StBKM02Ns3j
wearezMOrReTURnTc2ErTCsZyEXampLeD0xFwwpQAAAAC3Jvb3RAbGFwdG9wAQI=
-----END OPENSSH PRIVATE KEY-----
`

// leaked returns a piece of the key's body found in out, or "". A few
// characters may show where the file begins; no run of 12 may.
func leaked(out string) string {
	lines := strings.Split(strings.TrimSpace(fakeKey), "\n")
	for _, line := range lines[1 : len(lines)-1] {
		for i := 0; i+12 <= len(line); i++ {
			if strings.Contains(out, line[i:i+12]) {
				return line[i : i+12]
			}
		}
	}
	return ""
}

// A private key given where YAML was meant (`-i ~/.ssh/id_ed25519` out of
// ssh habit) is refused without printing it.
func TestKeyFileNotEchoed(t *testing.T) {
	key := write(t, "id_ed25519", fakeKey)
	good := write(t, "good.yaml", "steps:\n  - {name: a, hosts: all, task: command, with: {cmd: \"true\"}}\n")
	imports := filepath.Join(filepath.Dir(key), "imports.yaml")
	os.WriteFile(imports, []byte("steps:\n  - import: id_ed25519\n"), 0o644)
	tests := map[string][]string{
		"inventory -i":    {"inventory", "-i", key},
		"apply -i":        {"apply", "-i", key, good},
		"validate":        {"validate", key},
		"apply -e @file":  {"apply", "-e", "@" + key, good},
		"import: the key": {"validate", imports},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			code, out, errOut := runCLI(args...)
			if code != cli.ExitError || !strings.Contains(errOut, "id_ed25519:1:1: ") {
				t.Fatalf("exit %d, stderr %q: want an error at id_ed25519:1:1", code, errOut)
			}
			if s := leaked(out + errOut); s != "" {
				t.Errorf("output holds the key's body (%q):\n%s%s", s, out, errOut)
			}
		})
	}
}

// A path given by mistake that never ends (/dev/zero) or is huge is
// refused once it passes decode.MaxFile, not read until memory runs out.
func TestEndlessFileRefused(t *testing.T) {
	good := write(t, "good.yaml", "steps:\n  - {name: a, hosts: all, task: command, with: {cmd: \"true\"}}\n")
	tests := map[string][]string{
		"inventory -i":   {"inventory", "-i", "/dev/zero"},
		"validate":       {"validate", "/dev/zero"},
		"apply -e @file": {"apply", "-e", "@/dev/zero", good},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			var code int
			var errOut string
			decodetest.Within(t, 30*time.Second, func() { code, _, errOut = runCLI(args...) })
			if code != cli.ExitError || !strings.Contains(errOut, "/dev/zero is larger than 16 MiB") {
				t.Fatalf("exit %d, stderr %q: want /dev/zero refused as too large", code, errOut)
			}
		})
	}
}
