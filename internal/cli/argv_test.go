package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
)

// argvCanary is put in a process's arguments on purpose by the runbook of
// TestNoSecretInAnyArgv: seeing it proves the watcher sees the run.
const argvCanary = "argv-canary-not-secret"

// TestNoSecretInAnyArgv plays another local user who reads every
// process's arguments (/proc/*/cmdline, what ps shows) over and over
// while a run uses secrets in a command, a template file, a file's
// content and a command through sudo (become). The host is this machine,
// so the controller's processes are watched too.
func TestNoSecretInAnyArgv(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	s := sshtest.Start(t)
	inv := s.Inventory(t, "web")
	loot := filepath.Join(hostile.Dir(t), "loot")
	if err := os.Mkdir(loot, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, loot)
	// grep reads what it looks for from a file, so its own arguments
	// hold none of it.
	patterns := filepath.Join(loot, "patterns")
	if err := os.WriteFile(patterns, []byte(strings.Join(append(derivedForms(filePw, rbToken), argvCanary), "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostile.Start(t, fmt.Sprintf(`while :; do
  grep -a -o -F -f %[1]s/patterns /proc/[0-9]*/cmdline >>%[1]s/found 2>/dev/null
done`, loot))

	dir := t.TempDir()
	rbDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(rbDir, "key.tmpl"), []byte("token={{ .token }}\npw={{ .pw | upper }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	extra := write(t, "secrets.yaml", "pw: !secret "+filePw+"\n")
	rb := filepath.Join(rbDir, "site.yaml")
	if err := os.WriteFile(rb, []byte(fmt.Sprintf(`
vars:
  token: !secret %[2]s
steps:
  - name: canary
    hosts: all
    task: command
    with: {cmd: "sh -c 'sleep 0.7' %[4]s"}
  - name: command
    hosts: all
    task: command
    with:
      cmd: |
        t={{ quote .token }}; u=$(printf '%%s' {{ quote .pw }} | base64)
        sleep 0.7
        printf '%%s' "$t" | od -An -tx1 >/dev/null
      env: {TOKEN: "{{ .token }}"}
      stdin: "{{ .pw }}"
  - name: file
    hosts: all
    task: file
    with: {path: %[1]s/app.conf, mode: "0600", content: "pw={{ .pw }}\n"}
  - name: template
    hosts: all
    task: template
    with: {src: key.tmpl, dest: %[1]s/key, mode: "0600"}
  - name: become
    hosts: all
    task: command
    become: true
    become_user: %[3]s
    with: {cmd: "t={{ quote .token }}; p={{ quote .pw }}; sleep 0.7"}
`, dir, rbToken, hostile.User, argvCanary)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI("apply", "-i", inv, "--known-hosts", s.KnownHosts, "-e", "@"+extra, rb)
	if code != 0 {
		t.Fatalf("apply: exit %d\n%s\n%s", code, out, errOut)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "key")); string(got) != "token="+rbToken+"\npw="+strings.ToUpper(filePw)+"\n" {
		t.Errorf("the run did not use the secrets: key = %q", got)
	}
	found, _ := os.ReadFile(filepath.Join(loot, "found"))
	var leaked []string
	for _, l := range strings.Split(strings.TrimSpace(string(found)), "\n") {
		if _, what, _ := strings.Cut(l, ":"); what != "" && what != argvCanary {
			leaked = append(leaked, l)
		}
	}
	if len(leaked) > 0 {
		t.Errorf("another local user read secrets in processes' arguments:\n%s", strings.Join(leaked, "\n"))
	}
	if !strings.Contains(string(found), argvCanary) {
		t.Errorf("the watcher never saw the canary in argv: it does not see the run's processes")
	}
}
