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

// adhocHosts writes an inventory of seven hosts, all reached through s:
// web01 to web06 in group web, db01 in group db.
func adhocHosts(t *testing.T, s *sshtest.Server) string {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "defaults: {address: %s, port: %d, user: %s, key: %s}\nhosts:\n", s.Addr, s.Port, s.User, s.KeyFile)
	for i := 1; i <= 6; i++ {
		fmt.Fprintf(&b, "  web%02d:\n", i)
	}
	b.WriteString("  db01:\ngroups:\n  web: {hosts: [web01, web02, web03, web04, web05, web06]}\n  db: {hosts: [db01]}\n")
	return write(t, "hosts.yaml", b.String())
}

// TestAdHocCommand: runbook run PATTERN -a CMD runs a command on every
// host of the pattern and shows what each printed, hosts that printed the
// same together: by name when they are few, else counted; failures one by
// one, with their exit code.
func TestAdHocCommand(t *testing.T) {
	s := sshtest.Start(t)
	inv := adhocHosts(t, s)
	run := func(args ...string) (int, string, string) {
		return runCLI(append([]string{"run", "-i", inv, "--known-hosts", s.KnownHosts}, args...)...)
	}
	code, out, errOut := run("all", "-a", "uname -s")
	if code != cli.ExitOK || out != "7 hosts: Linux\n\n7 hosts: 7 ok\n" {
		t.Errorf("uname -s: exit %d\n%s%s", code, out, errOut)
	}
	// Grouped by what they printed, the largest group first.
	code, out, errOut = run("web:db", "-a", `case {{ .host.name }} in db*) echo db;; web0[12]) printf 'first\nsecond\n';; *) echo rest;; esac`)
	want := "web03, web04, web05, web06: rest\nweb01, web02:\n    first\n    second\ndb01: db\n\n7 hosts: 7 ok\n"
	if code != cli.ExitOK || out != want {
		t.Errorf("grouped: exit %d\n%s%s\nwant:\n%s", code, out, errOut, want)
	}
	// A failure is shown per host, with its exit code and what it printed;
	// what a host sends is escaped.
	code, out, errOut = run("all", "-l", "web01,db01", "-a", `if [ {{ .host.name }} = db01 ]; then printf 'no\033[2J\n' >&2; exit 4; fi`)
	want = "web01: (no output)\ndb01 FAILED rc=4: stderr: no\\x1b[2J\n\n2 hosts: 1 ok, 1 failed\n"
	if code != cli.ExitError || out != want {
		t.Errorf("failure: exit %d\n%s%s\nwant:\n%s", code, out, errOut, want)
	}
	code, out, errOut = run("web01", "-a", "echo hi", "--output", "json")
	if got := hostResults(t, out)["command"]; code != cli.ExitOK || got["stdout"] != "hi" || got["rc"] != 0.0 || got["host"] != "web01" {
		t.Errorf("json: exit %d\n%s%s", code, out, errOut)
	}
}

// TestAdHocModule: -m runs another module, -a giving its parameters as
// key=value pairs (or a mapping); -C checks without changing.
func TestAdHocModule(t *testing.T) {
	s := sshtest.Start(t)
	inv := adhocHosts(t, s)
	dir := t.TempDir()
	base := []string{"run", "-i", inv, "--known-hosts", s.KnownHosts}
	args := []string{"web01:web02", "-m", "file", "-a", fmt.Sprintf(`path=%s/{{ .host.name }} content="hello world"`, dir)}
	code, out, errOut := runCLI(append(append(base, "-C"), args...)...)
	if code != cli.ExitDrift || !strings.Contains(out, "web01: would change: ") || !strings.Contains(out, "web02: would change: ") {
		t.Errorf("-C: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "web01")); err == nil {
		t.Error("-C created a file")
	}
	code, out, errOut = runCLI(append(base, args...)...)
	if got, _ := os.ReadFile(filepath.Join(dir, "web02")); code != cli.ExitOK || string(got) != "hello world" {
		t.Errorf("file: exit %d, web02 = %q\n%s%s", code, got, out, errOut)
	}
	code, out, errOut = runCLI(append(base, "web01", "-m", "file", "-a", fmt.Sprintf(`{path: %s/web01, content: "hello world"}`, dir))...)
	if code != cli.ExitOK || out != "web01: ok\n\n1 host: 1 ok\n" {
		t.Errorf("mapping, in sync: exit %d\n%s%s", code, out, errOut)
	}
}

// TestAdHocRefusesBadInput: what cannot run is said in one line before
// any host is contacted.
func TestAdHocRefusesBadInput(t *testing.T) {
	inv := write(t, "hosts.yaml", "hosts:\n  web01: {address: 127.0.0.1, port: 1}\ngroups:\n  web: {hosts: [web01]}\n")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"wbe", "-a", "true"}, `hosts: "wbe": no host or group "wbe"; did you mean "web"?`},
		{[]string{"web", "-m", "fil", "-a", "path=/x"}, `-m "fil": no such module; did you mean "file"?`},
		{[]string{"web", "-m", "file", "-a", "pth=/x"}, `task file: unknown key "pth"; did you mean "path"?`},
		{[]string{"web", "-m", "file", "-a", "path=/x mode"}, `-a "path=/x mode": "mode" is not key=value`},
		{[]string{"web"}, `-a: give the command to run, as in -a 'uname -r'`},
		{[]string{"web", "db", "-a", "true"}, "run takes one host pattern, got 2: join patterns with a colon, as in web:db"},
	} {
		code, out, errOut := runCLI(append([]string{"run", "-i", inv, "--connect-timeout", "2s"}, tc.args...)...)
		if code != cli.ExitError || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d\nstdout: %s\nstderr: %s\nwant: %s", tc.args, code, out, errOut, tc.want)
		}
	}
	if code, _, errOut := runCLI("run", "all", "-a", "true"); code != cli.ExitError || !strings.Contains(errOut, "run needs an inventory: give one with -i") {
		t.Errorf("no -i: exit %d\n%s", code, errOut)
	}
	// PATTERN completes with the inventory's hosts and groups, -m with
	// modules.
	if got, _ := complete(t, "run", "-i", inv, "w"); strings.Join(got, " ") != "web web01" {
		t.Errorf("run PATTERN completes %v", got)
	}
	if got, _ := complete(t, "run", "-i", inv, "web", "-m", "comm"); strings.Join(got, " ") != "command" {
		t.Errorf("-m completes %v", got)
	}
}

// TestAdHocListHosts: --list-hosts prints the hosts a pattern matches,
// as ansible's does, and contacts none.
func TestAdHocListHosts(t *testing.T) {
	inv := write(t, "hosts.yaml", "hosts:\n  web01: {address: 127.0.0.1, port: 1}\n  web02: {address: 127.0.0.1, port: 1}\n  db01: {address: 127.0.0.1, port: 1}\ngroups:\n  web: {hosts: [web01, web02]}\n")
	code, out, errOut := runCLI("run", "-i", inv, "all:!db01", "--list-hosts")
	if code != cli.ExitOK || out != "  hosts (2):\n    web01\n    web02\n" {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI("run", "-i", inv, "web", "-l", "web02", "--list-hosts", "--output", "json")
	if code != cli.ExitOK || out != "{\"hosts\":[\"web02\"]}\n" {
		t.Errorf("json: exit %d\n%s%s", code, out, errOut)
	}
}

// TestAdHocBecomePassword: run -b -K becomes root on hosts whose sudo asks
// for a password, read once, and shows it nowhere.
func TestAdHocBecomePassword(t *testing.T) {
	f := newBecomeFixture(t)
	inv := f.inventory(t, map[string]string{"web01": "", "web02": ""})
	code, out, errOut := runCLIInput(f.login.Password+"\n", "run", "-i", inv, "--known-hosts", f.s.KnownHosts, "all", "-b", "-K", "-a", "id -un")
	if code != cli.ExitOK || out != "web01, web02: root\n\n2 hosts: 2 ok\n" || strings.Contains(out+errOut, f.login.Password) {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLIInput("", "run", "-i", inv, "--known-hosts", f.s.KnownHosts, "all", "-b", "-a", "id -un")
	if code != cli.ExitError || !strings.Contains(out, "web01 FAILED: run \"id -un\": become root with sudo on web01: a password is required") {
		t.Errorf("without -K: exit %d\n%s%s", code, out, errOut)
	}
}
