package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/sshtest"
)

// The local users these tests log in as and become: names of this
// package's own, as tests of other packages create theirs at the same time.
const (
	becomeLogin  = "rb-become-cli"  // whose sudo asks for its password
	becomeTarget = "rb-become-cli2" // whom su asks the password of
)

func runCLIInput(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.RunWithInput(context.Background(), args, strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

// becomeFixture is a host reached as a login user whose sudo asks for its
// password, a directory there that only root may write, and a runbook
// that writes in it with a command and with a file.
type becomeFixture struct {
	s     *sshtest.Server
	login *sshtest.Login
	dir   string
	rb    string
}

func newBecomeFixture(t *testing.T) *becomeFixture {
	t.Helper()
	login := sshtest.NewLogin(t, becomeLogin)
	login.RequireSudoPassword(t)
	s := sshtest.Start(t)
	s.AllowLogin(t, login.User)
	dir := filepath.Join(t.TempDir(), "root-only")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	rb := write(t, "site.yaml", fmt.Sprintf(`
steps:
  - name: who
    hosts: all
    task: command
    become: true
    with: {cmd: "id -un > %[1]s/who-{{ .host.name }}"}
  - name: conf
    hosts: all
    task: file
    become: true
    with: {path: "%[1]s/conf-{{ .host.name }}", content: "x\n", mode: "0600"}
`, dir))
	return &becomeFixture{s: s, login: login, dir: dir, rb: rb}
}

// inventory is a static inventory of hosts reached as the login user,
// each with the variables given.
func (f *becomeFixture) inventory(t *testing.T, hosts map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "defaults: {address: %s, port: %d, user: %s, key: %s}\nhosts:\n", f.s.Addr, f.s.Port, f.login.User, f.s.KeyFile)
	for name, vars := range hosts {
		fmt.Fprintf(&b, "  %s: {vars: {%s}}\n", name, vars)
	}
	return write(t, "hosts.yaml", b.String())
}

// wrote checks that the runbook ran as root on host.
func (f *becomeFixture) wrote(t *testing.T, host string) {
	t.Helper()
	who, err := os.ReadFile(filepath.Join(f.dir, "who-"+host))
	if err != nil || string(who) != "root\n" {
		t.Errorf("%s: the command ran as %q (%v), want root", host, who, err)
	}
	st, err := os.Stat(filepath.Join(f.dir, "conf-"+host))
	if err != nil || st.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Errorf("%s: the file was not written as root: %v", host, err)
	}
}

// TestApplyBecomePassword gives sudo its password from -K (on stdin, as
// when runbook has no terminal) and from a host's become_password, in
// text and JSON output, while another local user reads every process's
// arguments: the password is in no argv and in no output.
func TestApplyBecomePassword(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	f := newBecomeFixture(t)
	loot := hostile.Dir(t)
	hostile.Own(t, loot)
	canary := fmt.Sprintf("rb-canary-%d", time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(loot, "patterns"), []byte(f.login.Password+"\n"+canary+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostile.Start(t, fmt.Sprintf(`while :; do
  grep -a -o -F -f %[1]s/patterns /proc/[0-9]*/cmdline >>%[1]s/found 2>/dev/null
done`, loot))
	var shown strings.Builder

	inv := f.inventory(t, map[string]string{"web01": "", "web02": ""})
	for _, output := range []string{"text", "json"} {
		code, out, errOut := runCLIInput(f.login.Password+"\n", "apply", "-K", "-i", inv, "--known-hosts", f.s.KnownHosts, "--output", output, f.rb)
		shown.WriteString(out + errOut)
		if code != cli.ExitOK {
			t.Fatalf("-K, %s: exit %d\n%s\n%s", output, code, out, errOut)
		}
		f.wrote(t, "web01")
		f.wrote(t, "web02")
	}

	// A host's become_password wins over -K's.
	inv = f.inventory(t, map[string]string{"db01": "become_password: " + f.login.Password, "db02": "ansible_become_pass: " + f.login.Password})
	code, out, errOut := runCLIInput("not-it\n", "apply", "-K", "-i", inv, "--known-hosts", f.s.KnownHosts, "--output", "json", "-v", f.rb)
	shown.WriteString(out + errOut)
	if code != cli.ExitOK {
		t.Fatalf("become_password: exit %d\n%s\n%s", code, out, errOut)
	}
	f.wrote(t, "db01")
	f.wrote(t, "db02")
	code, out, errOut = runCLI("inventory", "-i", inv)
	shown.WriteString(out + errOut)
	if code != cli.ExitOK || !strings.Contains(out, "become_password") {
		t.Errorf("inventory: exit %d\n%s\n%s", code, out, errOut)
	}

	// A command whose argv the watcher sees, so that it is known to see
	// the run's processes.
	canaryRb := write(t, "canary.yaml", fmt.Sprintf("steps:\n  - {hosts: all, task: command, become: true, with: {cmd: \"sh -c 'sleep 0.5' %s\"}}\n", canary))
	if code, out, errOut := runCLIInput(f.login.Password+"\n", "apply", "-K", "-i", inv, "--known-hosts", f.s.KnownHosts, canaryRb); code != cli.ExitOK {
		t.Fatalf("canary: exit %d\n%s\n%s", code, out, errOut)
	}
	found, _ := os.ReadFile(filepath.Join(loot, "found"))
	if !strings.Contains(string(found), canary) {
		t.Fatal("the watcher never saw the canary in argv: it does not see the run's processes")
	}
	if strings.Contains(string(found), f.login.Password) {
		t.Errorf("another local user read the become password in processes' arguments:\n%s", found)
	}
	if strings.Contains(shown.String(), f.login.Password) {
		t.Errorf("the become password is in runbook's output:\n%s", shown.String())
	}
}

// A wrong password fails the host, saying so, and so does a sudo that
// asks for a password when none was given.
func TestApplyBecomeFailures(t *testing.T) {
	f := newBecomeFixture(t)
	inv := f.inventory(t, map[string]string{"web01": ""})
	for _, c := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"wrong", "not-it\n", []string{"-K"}, "become root with sudo on web01: incorrect password"},
		{"none", "", nil, "become root with sudo on web01: a password is required: give it with -K (--ask-become-pass) or the become_password variable"},
	} {
		args := append(append([]string{"apply"}, c.args...), "-i", inv, "--known-hosts", f.s.KnownHosts, f.rb)
		code, out, errOut := runCLIInput(c.stdin, args...)
		if code != cli.ExitError || !strings.Contains(out, c.want) {
			t.Errorf("%s: exit %d, want 1 and %q in:\n%s\n%s", c.name, code, c.want, out, errOut)
		}
	}
}

// A delegate becomes with its own password, never with that of the host
// the step runs for.
func TestApplyBecomeDelegate(t *testing.T) {
	f := newBecomeFixture(t)
	inv := f.inventory(t, map[string]string{
		"web01": "become_password: wrong-password",
		"db01":  "become_password: " + f.login.Password,
	})
	rb := write(t, "site.yaml", fmt.Sprintf(`
steps:
  - {hosts: web01, task: command, become: true, delegate_to: db01, with: {cmd: "id -un > %s/delegated"}}
`, f.dir))
	code, out, errOut := runCLI("apply", "-i", inv, "--known-hosts", f.s.KnownHosts, rb)
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if who, _ := os.ReadFile(filepath.Join(f.dir, "delegated")); string(who) != "root\n" {
		t.Errorf("the delegated command ran as %q, want root", who)
	}
}

// An Ansible inventory's ansible_become_method=su and
// ansible_become_password: su asks for the target user's password.
func TestApplyBecomeSuFromAnsibleInventory(t *testing.T) {
	f := newBecomeFixture(t)
	target := sshtest.NewLogin(t, becomeTarget)
	out := filepath.Join(target.Home, "who")
	os.Remove(out)
	inv := write(t, "hosts.ini", fmt.Sprintf(`[web]
web01 ansible_host=%s ansible_port=%d ansible_user=%s ansible_ssh_private_key_file=%s
[web:vars]
ansible_become=true
ansible_become_method=su
ansible_become_user=%s
ansible_become_password=%s
`, f.s.Addr, f.s.Port, f.login.User, f.s.KeyFile, target.User, target.Password))
	rb := write(t, "site.yaml", fmt.Sprintf("steps:\n  - {hosts: all, task: command, with: {cmd: \"id -un > %s\"}}\n", out))
	code, stdout, errOut := runCLI("apply", "-i", inv, "--known-hosts", f.s.KnownHosts, rb)
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, errOut)
	}
	if who, _ := os.ReadFile(out); string(who) != target.User+"\n" {
		t.Errorf("the command ran as %q, want %s", who, target.User)
	}
	if strings.Contains(stdout+errOut, target.Password) {
		t.Errorf("the password is in the output:\n%s", stdout+errOut)
	}
}
