package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/sshtest"
)

// threeHosts is an inventory of h1, h2 and h3, all the one sshd.
func threeHosts(t *testing.T) (inv string, s *sshtest.Server) {
	s = sshtest.Start(t)
	return write(t, "hosts.yaml", fmt.Sprintf(`
defaults: {address: 127.0.0.1, port: %d, user: %s, key: %s}
hosts: {h1: {}, h2: {}, h3: {}}
`, s.Port, s.User, s.KeyFile)), s
}

// A block whose second step fails on one host runs the rescue and always
// steps there, the always steps elsewhere, and the run succeeds with the
// host counted as rescued.
func TestBlockRescueOverSSH(t *testing.T) {
	inv, s := threeHosts(t)
	dir := t.TempDir()
	rb := write(t, "site.yaml", fmt.Sprintf(`
hosts: all
steps:
  - name: deploy
    block:
      - {name: first, task: file, with: {path: "%[1]s/{{ .host.name }}-first", content: x}}
      - {name: fail, task: assert, with: {cmd: 'test {{ .host.name }} != h2'}}
      - {name: second, task: file, with: {path: "%[1]s/{{ .host.name }}-second", content: x}}
    rescue:
      - {name: undo, task: file, with: {path: "%[1]s/{{ .host.name }}-rescued", content: "{{ .failure.step }}"}}
    always:
      - {name: cleanup, task: file, with: {path: "%[1]s/{{ .host.name }}-always", content: x}}
  - {name: after, task: file, with: {path: "%[1]s/{{ .host.name }}-after", content: x}}
`, dir))
	code, out, errOut := runCLI("apply", rb, "-i", inv, "--known-hosts", s.KnownHosts)
	if code != cli.ExitOK {
		t.Fatalf("exit %d, want 0: the failure was rescued\n%s%s", code, out, errOut)
	}
	var got []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		got = append(got, e.Name())
	}
	want := []string{
		"h1-after", "h1-always", "h1-first", "h1-second",
		"h2-after", "h2-always", "h2-first", "h2-rescued",
		"h3-after", "h3-always", "h3-first", "h3-second",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("files (-want +got):\n%s\n%s", diff, out)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "h2-rescued")); string(data) != "fail" {
		t.Errorf("the rescue saw .failure.step %q, want \"fail\"", data)
	}
	if !strings.Contains(out, "rescued=1") || strings.Contains(out, "failed=1") {
		t.Errorf("the recap does not count h2 as rescued:\n%s", out)
	}
	// A second run changes nothing but what fails again.
	if code, out, _ := runCLI("apply", "--check", rb, "-i", inv, "--known-hosts", s.KnownHosts); code != cli.ExitOK {
		t.Errorf("check after apply: exit %d\n%s", code, out)
	}
}

// A rolling block with serial: 1 runs drain, restart and verify on one host,
// and its notified handler, before the next host starts; a batch with more
// failures than max_fail_percentage stops the run.
func TestRollingRestartOverSSH(t *testing.T) {
	inv, s := threeHosts(t)
	logFile := filepath.Join(t.TempDir(), "log")
	rb := write(t, "site.yaml", fmt.Sprintf(`
steps:
  - name: roll
    hosts: all
    serial: 1
    max_fail_percentage: 0
    block:
      - {name: drain, task: command, with: {cmd: 'echo {{ .host.name }} drain >> %[1]s'}}
      - {name: restart, task: command, with: {cmd: 'echo {{ .host.name }} restart >> %[1]s'}, notify: [reload]}
      - {name: verify, task: command, with: {cmd: 'echo {{ .host.name }} verify >> %[1]s; test {{ .host.name }} != {{ .broken }}'}}
handlers:
  - {name: reload, task: command, with: {cmd: 'echo {{ .host.name }} handler >> %[1]s'}}
`, logFile))
	code, out, errOut := runCLI("apply", rb, "-i", inv, "--known-hosts", s.KnownHosts, "-e", "broken=none")
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	var want []string
	for _, h := range []string{"h1", "h2", "h3"} {
		want = append(want, h+" drain", h+" restart", h+" verify", h+" handler")
	}
	data, _ := os.ReadFile(logFile)
	if diff := cmp.Diff(want, strings.Split(strings.TrimSpace(string(data)), "\n")); diff != "" {
		t.Fatalf("order (-want +got):\n%s", diff)
	}
	os.Remove(logFile)
	code, out, _ = runCLI("apply", rb, "-i", inv, "--known-hosts", s.KnownHosts, "-e", "broken=h2")
	if code != cli.ExitError || !strings.Contains(out, "max_fail_percentage") {
		t.Fatalf("exit %d, want 1 and the run stopped by max_fail_percentage\n%s", code, out)
	}
	data, _ = os.ReadFile(logFile)
	got := strings.Split(strings.TrimSpace(string(data)), "\n")
	want = []string{"h1 drain", "h1 restart", "h1 verify", "h1 handler", "h2 drain", "h2 restart", "h2 verify"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("after a failed batch (-want +got):\n%s", diff)
	}
}
