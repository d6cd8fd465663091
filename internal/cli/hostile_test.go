package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/sshtest"
)

// hostile is what a compromised host prints to take over the operator's
// terminal: retitle the window (OSC ... BEL), return to the start of the
// line and erase it, then a fake result; a C1 CSI (clear the screen on
// terminals that honour 8-bit controls), a backspace, DEL and a byte that is
// not UTF-8.
const hostile = "\033]0;pwned\007\r\033[2K  ok fake\302\2332J\b\177\377"

// hostileShell is hostile as printf(1) arguments.
const hostileShell = `\033]0;pwned\007\r\033[2K  ok fake\302\2332J\b\177\377`

// TestHostOutputCannotDriveTheTerminal runs steps on a real sshd host whose
// command output, error output and file content carry terminal escapes, and
// checks that no output mode passes them to the operator raw.
func TestHostOutputCannotDriveTheTerminal(t *testing.T) {
	s := sshtest.Start(t)
	inv := s.Inventory(t, "web")
	dir := t.TempDir()
	conf := filepath.Join(dir, "app.conf")
	rb := write(t, "site.yaml", fmt.Sprintf(`
steps:
  - name: config
    hosts: all
    task: file
    with: {path: %s, content: "clean\n"}
  - name: evil
    hosts: all
    task: command
    with:
      cmd: |
        printf '%s\n'; printf '%s\n' >&2; exit 3
`, conf, hostileShell, hostileShell))

	for _, mode := range [][]string{{"--diff"}, {"--diff", "-v"}, {"--diff", "--check"}} {
		// The host's file holds the escapes: the diff shows its old lines.
		if err := os.WriteFile(conf, []byte(hostile+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		args := append([]string{"apply", "-i", inv, "--known-hosts", s.KnownHosts}, mode...)
		code, out, errOut := runCLI(append(args, rb)...)
		if code == cli.ExitOK {
			t.Errorf("%v: exit 0, want the failure reported\n%s", mode, out)
		}
		checkInert(t, fmt.Sprint(mode), out+errOut)
		if !strings.Contains(out, `-\x1b]0;pwned\x07\r\x1b[2K  ok fake\u009b2J\x08\x7f\xff`) {
			t.Errorf("%v: the diff does not show the host's old line escaped:\n%s%s", mode, out, errOut)
		}
		if !strings.Contains(out, `exit status 3: \x1b]0;pwned\x07\r\x1b[2K  ok fake`) && !strings.Contains(out, "would change") {
			t.Errorf("%v: the failure does not show what the host printed, escaped:\n%s", mode, out)
		}
	}

	if err := os.WriteFile(conf, []byte(hostile+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("apply", "-i", inv, "--known-hosts", s.KnownHosts, "--diff", "--output", "json", rb)
	if code == cli.ExitOK {
		t.Errorf("json: exit 0, want the failure reported\n%s", out)
	}
	checkInert(t, "json", out+errOut)
	// JSON escapes what it carries; a consumer still gets the host's bytes
	// (but for the one that is not UTF-8).
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev engine.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("json line %q: %v", line, err)
		}
		if ev.Type == engine.HostResult {
			got = append(got, ev.Diff, ev.Message)
		}
	}
	faithful := strings.ToValidUTF8(hostile, "\uFFFD")
	if all := strings.Join(got, "\n"); strings.Count(all, faithful) != 2 {
		t.Errorf("json: want the host's output twice (diff, stderr) as sent, got:\n%q", all)
	}
}

// checkInert fails when out holds a byte or character that a terminal acts
// on, other than newline and tab.
func checkInert(t *testing.T, what, out string) {
	t.Helper()
	for i, r := range out {
		bad := r == utf8.RuneError && !strings.HasPrefix(out[i:], "\uFFFD") ||
			r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r < 0xa0
		if bad {
			lo, hi := max(0, i-40), min(len(out), i+40)
			t.Errorf("%s: raw control %q at byte %d: %q", what, r, i, out[lo:hi])
			return
		}
	}
}
