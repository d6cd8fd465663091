package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/sshtest"
)

// TestAnsibleShortFlags: an ansible-playbook command line works as it
// reads: -i -C -D -l -t -f -e, with -e "a=1 b=2" setting both.
func TestAnsibleShortFlags(t *testing.T) {
	inv := write(t, "hosts.yaml", "hosts:\n  me: {connection: local}\n  other: {connection: local}\ngroups:\n  g: {hosts: [me]}\n")
	dir := t.TempDir()
	rb := write(t, "site.yaml", fmt.Sprintf(`steps:
  - {name: one, hosts: all, task: file, with: {path: "%[1]s/{{ .host.name }}", content: "{{ .a }} {{ .b }}\n"}, tags: [t1]}
  - {name: two, hosts: all, task: file, with: {path: "%[1]s/{{ .host.name }}-2", content: x}, tags: [t2]}
`, dir))
	code, out, errOut := runCLI("apply", "-i", inv, "-C", "-D", "-l", "g", "-t", "t1", "-f", "1", "-e", "a=1 b=2", rb)
	if code != cli.ExitDrift || !strings.Contains(out, "+1 2") || strings.Contains(out, "other") || strings.Contains(out, "STEP two") {
		t.Errorf("-C -D -l g -t t1: exit %d\n%s%s", code, out, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Errorf("-C changed %s", entries[0].Name())
	}
	code, out, errOut = runCLI("apply", "--inventory", inv, "--limit", "me", "--extra-vars", `a="x y" b=2`, "--skip-tags", "t2", "-vvv", rb)
	if code != cli.ExitOK {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "me")); string(got) != "x y 2\n" {
		t.Errorf("me = %q, want \"x y 2\\n\"", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "me-2")); err == nil {
		t.Error("--skip-tags t2 ran step two")
	}
}

// TestUserAndBecomeFlags: -u is the SSH user of hosts whose inventory
// names none; -b runs every step as the host's become user (root unless
// the inventory says another), as Ansible's -b does.
func TestUserAndBecomeFlags(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	s := sshtest.Start(t)
	dir := hostile.Dir(t)
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	inv := write(t, "hosts", fmt.Sprintf("h1 ansible_host=%s ansible_port=%d ansible_ssh_private_key_file=%s ansible_become_user=%s\n",
		s.Addr, s.Port, s.KeyFile, hostile.User))
	// A file per run: one the sticky directory gave root, another user
	// cannot write over.
	who := func(n string) string { return filepath.Join(dir, "who-"+n) }
	rb := write(t, "site.yaml", fmt.Sprintf("steps:\n  - {name: who, hosts: all, task: command, with: {cmd: \"id -un > %s\"}}\n", who("{{ .n }}")))
	base := []string{"apply", "-i", inv, "--known-hosts", s.KnownHosts, "--connect-timeout", "5s"}

	code, out, _ := runCLI(append(base, "-u", "rb-no-such-user", "-e", "n=1", rb)...)
	if code != cli.ExitError || !strings.Contains(out, "rb-no-such-user") {
		t.Errorf("-u rb-no-such-user: exit %d, want a failure naming the user\n%s", code, out)
	}
	code, out, errOut := runCLI(append(base, "-u", s.User, "-e", "n=2", rb)...)
	if got, _ := os.ReadFile(who("2")); code != cli.ExitOK || strings.TrimSpace(string(got)) != s.User {
		t.Errorf("-u %s: exit %d, ran as %q\n%s%s", s.User, code, got, out, errOut)
	}
	code, out, errOut = runCLI(append(base, "-u", s.User, "-b", "-e", "n=3", rb)...)
	if got, _ := os.ReadFile(who("3")); code != cli.ExitOK || strings.TrimSpace(string(got)) != hostile.User {
		t.Errorf("-b: exit %d, ran as %q, want %s\n%s%s", code, got, hostile.User, out, errOut)
	}
}

// TestErrorsAreOneLineAndAHint: a command line runbook cannot take is
// reported in one line, with where to read the usage, never the usage.
func TestErrorsAreOneLineAndAHint(t *testing.T) {
	rb := write(t, "site.yaml", "steps:\n  - {name: a, hosts: all, task: command, with: {cmd: \"true\"}}\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apply", "--chek", rb}, "runbook: unknown flag: --chek; did you mean --check?\nRun 'runbook apply --help' for usage.\n"},
		{[]string{"apply", "-x", rb}, "runbook: unknown shorthand flag: 'x' in -x\nRun 'runbook apply --help' for usage.\n"},
		{[]string{"apply"}, "runbook: apply takes exactly one runbook, got 0\nRun 'runbook apply --help' for usage.\n"},
		{[]string{"apply", rb, "-l"}, "runbook: flag needs an argument: 'l' in -l\nRun 'runbook apply --help' for usage.\n"},
		{[]string{"apply", "-f", "x", rb}, "runbook: invalid argument \"x\" for \"-f, --forks\" flag: want a whole number\nRun 'runbook apply --help' for usage.\n"},
		{[]string{"aply", rb}, "runbook: unknown command \"aply\"; did you mean \"apply\"?\nRun 'runbook --help' for usage.\n"},
		{[]string{"help", "patern"}, "runbook: no command or help topic \"patern\"; did you mean \"patterns\"?\nRun 'runbook --help' for usage.\n"},
		{[]string{"inventory", "-i", "x.yaml", rb}, "runbook: inventory takes no arguments, got \"" + rb + "\": give inventories with -i\nRun 'runbook inventory --help' for usage.\n"},
	} {
		code, out, errOut := runCLI(tc.args...)
		if code != cli.ExitError || out != "" || errOut != tc.want {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s\nwant:   %s", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestHelpReadsLikeATool: runbook alone shows its help and fails, as
// today; --help and help TOPIC succeed on stdout; --version answers.
func TestHelpReadsLikeATool(t *testing.T) {
	code, out, errOut := runCLI()
	if code != cli.ExitError || out != "" || !strings.Contains(errOut, "Usage:\n  runbook COMMAND") {
		t.Errorf("runbook alone: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI("--version")
	if code != cli.ExitOK || out != "runbook "+cli.Version+"\n" {
		t.Errorf("--version: exit %d %q", code, out)
	}
	code, out, _ = runCLI("--help")
	for _, want := range []string{"Commands:\n  apply", "  run ", "Help topics (runbook help TOPIC):\n", "  patterns ", "Exit codes: 0"} {
		if code != cli.ExitOK || !strings.Contains(out, want) {
			t.Errorf("--help: exit %d, want %q in:\n%s", code, want, out)
		}
	}
	code, out, _ = runCLI("apply", "--help")
	for _, want := range []string{
		"Usage:\n  runbook apply [flags] RUNBOOK\n",
		"Inventory and variables:\n  -i, --inventory FILE",
		"  -e, --extra-vars VARS",
		"  -l, --limit PATTERNS",
		"  -C, --check",
		"  -D, --diff",
		"  -t, --tags TAGS",
		"  -f, --forks N",
		"Connection:\n  -u, --user USER",
		"Privilege escalation:\n  -b, --become",
		"  -K, --ask-become-pass",
		"  -v, --verbose",
	} {
		if code != cli.ExitOK || !strings.Contains(out, want) {
			t.Errorf("apply --help: exit %d, want %q in:\n%s", code, want, out)
		}
	}
	if _, help, _ := runCLI("help", "apply"); help != out {
		t.Errorf("help apply differs from apply --help:\n%s", help)
	}
	code, out, _ = runCLI("help", "patterns")
	if code != cli.ExitOK || !strings.Contains(out, "web:&prod") {
		t.Errorf("help patterns: exit %d\n%s", code, out)
	}
}

// TestSingleDashLongFlags: -check and -limit, as Go's flag package took
// them before, still mean --check and --limit (pflag alone would read
// -limit as -l imit).
func TestSingleDashLongFlags(t *testing.T) {
	inv := write(t, "hosts.yaml", "hosts:\n  me: {connection: local}\n  other: {connection: local}\n")
	p := filepath.Join(t.TempDir(), "f")
	rb := write(t, "site.yaml", fmt.Sprintf("steps:\n  - {name: w, hosts: all, task: file, with: {path: \"%s-{{ .host.name }}\", content: x}}\n", p))
	code, out, errOut := runCLI("apply", "-i", inv, "-check", "-limit", "me", "-output=json", rb)
	if code != cli.ExitDrift || !strings.Contains(out, `"host":"me"`) || strings.Contains(out, `"host":"other"`) {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}
