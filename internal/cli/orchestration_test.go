package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/sshtest"
)

// Loops, run_once, delegate_to and .hostvars against real hosts: several
// inventory names reached through one sshd, each a host of its own to
// runbook (its own connection, its own results).

// events parses runbook's JSON output.
func events(t *testing.T, out string) []engine.Event {
	t.Helper()
	var evs []engine.Event
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev engine.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		evs = append(evs, ev)
	}
	return evs
}

// resultsOf lists "host[ item] status" for the host and item results of step.
func resultsOf(evs []engine.Event, step string) []string {
	var out []string
	for _, ev := range evs {
		switch {
		case ev.Step != step:
		case ev.Type == engine.ItemResult:
			out = append(out, fmt.Sprintf("%s %s %s", ev.Host, ev.Item, ev.Status))
		case ev.Type == engine.HostResult:
			out = append(out, fmt.Sprintf("%s %s", ev.Host, ev.Status))
		}
	}
	slices.Sort(out)
	return out
}

func recapOf(evs []engine.Event) map[string]*engine.Stats {
	for _, ev := range evs {
		if ev.Type == engine.Recap {
			return ev.Recap
		}
	}
	return nil
}

// A loop of three users: each user is checked, diffed and applied on its
// own; the second run changes nothing.
func TestLoopOfUsersOnRealHosts(t *testing.T) {
	s := sshtest.Start(t)
	inv := s.Inventory(t, "h1", "h2")
	dir := t.TempDir()
	rb := write(t, "site.yaml", fmt.Sprintf(`
vars:
  users: {alice: 1001, bob: 1002, carol: 1003}
steps:
  - name: users
    hosts: all
    task: line
    loop: "{{ .users }}"
    loop_var: user
    with:
      path: "%[1]s/{{ .host.name }}.passwd"
      line: "{{ .user.key }}:x:{{ .user.value }}"
      regexp: "^{{ .user.key }}:"
      create: true
    register: added
  - name: count
    hosts: all
    task: file
    with: {path: "%[1]s/{{ .host.name }}.count", content: "{{ len .added.results }} {{ .added.changed }} {{ (index .added.results 1).user.key }}"}
`, dir))
	apply := func(extra ...string) (int, []engine.Event) {
		t.Helper()
		args := append([]string{"apply", "-i", inv, "--known-hosts", s.KnownHosts, "--output", "json", "--diff"}, extra...)
		code, out, errOut := runCLI(append(args, rb)...)
		if code == cli.ExitError {
			t.Fatalf("exit %d: %s\n%s", code, errOut, out)
		}
		return code, events(t, out)
	}

	code, evs := apply("--check")
	want := []string{
		"h1 alice changed", "h1 bob changed", "h1 carol changed", "h1 changed",
		"h2 alice changed", "h2 bob changed", "h2 carol changed", "h2 changed",
	}
	if diff := cmp.Diff(want, resultsOf(evs, "users")); code != cli.ExitDrift || diff != "" {
		t.Errorf("check: exit %d, want %d (-want +got):\n%s", code, cli.ExitDrift, diff)
	}
	if _, err := os.Stat(filepath.Join(dir, "h1.passwd")); err == nil {
		t.Fatal("check mode created the file")
	}

	code, evs = apply()
	if diff := cmp.Diff(want, resultsOf(evs, "users")); code != cli.ExitOK || diff != "" {
		t.Errorf("apply: exit %d (-want +got):\n%s", code, diff)
	}
	for _, ev := range evs {
		if ev.Type == engine.ItemResult && !strings.Contains(ev.Diff, "+"+ev.Item+":x:") {
			t.Errorf("item %s on %s: its diff %q does not show its own line", ev.Item, ev.Host, ev.Diff)
		}
		if ev.Type == engine.HostResult && ev.Step == "users" && ev.Items != 3 {
			t.Errorf("%s: items = %d", ev.Host, ev.Items)
		}
	}
	for _, h := range []string{"h1", "h2"} {
		data, err := os.ReadFile(filepath.Join(dir, h+".passwd"))
		if err != nil || string(data) != "alice:x:1001\nbob:x:1002\ncarol:x:1003\n" {
			t.Errorf("%s.passwd = %q, %v", h, data, err)
		}
	}
	if recap := recapOf(evs); recap["h1"].Changed != 2 || recap["h1"].OK != 2 {
		t.Errorf("h1 recap %+v: the loop counts once", recap["h1"])
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "h1.count")); string(data) != "3 true bob" {
		t.Errorf("h1.count = %q: register holds every item's result", data)
	}

	code, evs = apply()
	want = []string{"h1 alice ok", "h1 bob ok", "h1 carol ok", "h1 ok", "h2 alice ok", "h2 bob ok", "h2 carol ok", "h2 ok"}
	if diff := cmp.Diff(want, resultsOf(evs, "users")); code != cli.ExitOK || diff != "" {
		t.Errorf("second apply: exit %d (-want +got):\n%s", code, diff)
	}
	if code, _ := apply("--check"); code != cli.ExitOK {
		t.Errorf("check after apply: exit %d, want no drift", code)
	}
}

// run_once makes a value on one host, which every host then writes.
func TestRunOnceSharesOneValue(t *testing.T) {
	s := sshtest.Start(t)
	inv := s.Inventory(t, "h1", "h2", "h3")
	dir := t.TempDir()
	rb := write(t, "site.yaml", fmt.Sprintf(`
steps:
  - name: token
    hosts: all
    task: command
    run_once: true
    with: {cmd: "head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n'"}
    register: tok
  - name: write
    hosts: all
    task: file
    with: {path: "%s/{{ .host.name }}.tok", content: "{{ .tok.stdout }}"}
`, dir))
	code, out, errOut := runCLI("apply", "-i", inv, "--known-hosts", s.KnownHosts, "--output", "json", rb)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	var first string
	for _, h := range []string{"h1", "h2", "h3"} {
		data, err := os.ReadFile(filepath.Join(dir, h+".tok"))
		if err != nil || len(data) != 32 {
			t.Fatalf("%s.tok = %q, %v: want 16 bytes in hex", h, data, err)
		}
		if first == "" {
			first = string(data)
		} else if string(data) != first {
			t.Errorf("%s.tok = %s, h1.tok = %s: the value is made once for all", h, data, first)
		}
	}
	var ran []string
	for _, ev := range events(t, out) {
		if ev.Type == engine.HostResult && ev.Step == "token" {
			ran = append(ran, ev.Host+" "+string(ev.Status)+" "+ev.RunOnce)
		}
	}
	if diff := cmp.Diff([]string{"h1 changed ", "h2 changed h1", "h3 changed h1"}, sorted(ran)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// delegate_to local writes one line per host into a file on the
// controller: nothing runs on the hosts themselves.
func TestDelegateToLocalWritesOnTheController(t *testing.T) {
	s := sshtest.Start(t)
	inv := s.Inventory(t, "h1", "h2", "h3")
	dir := t.TempDir()
	rb := write(t, "site.yaml", fmt.Sprintf(`
steps:
  - name: record
    hosts: h1,h2
    task: line
    delegate_to: local
    with: {path: "%[1]s/hosts.txt", line: "{{ .host.name }} {{ .host.port }}", create: true}
  - name: peer
    hosts: h3
    task: file
    delegate_to: h1
    with: {path: "%[1]s/from-{{ .host.name }}", content: "{{ .host.name }}"}
`, dir))
	code, out, errOut := runCLI("apply", "-i", inv, "--known-hosts", s.KnownHosts, "--output", "json", rb)
	if code != cli.ExitOK {
		t.Fatalf("exit %d: %s\n%s", code, errOut, out)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "hosts.txt"))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	slices.Sort(lines)
	if diff := cmp.Diff([]string{fmt.Sprintf("h1 %d", s.Port), fmt.Sprintf("h2 %d", s.Port)}, lines); diff != "" {
		t.Errorf("hosts.txt (-want +got):\n%s", diff)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "from-h3")); string(data) != "h3" {
		t.Errorf("from-h3 = %q: the module runs with the delegating host's variables", data)
	}
	recap := recapOf(events(t, out))
	if recap["h2"].Commands != 0 || recap["h3"].Commands != 0 || recap["h1"].Commands == 0 {
		t.Errorf("commands: h1 %d, h2 %d, h3 %d: only h1, which h3 delegated to, runs any",
			recap["h1"].Commands, recap["h2"].Commands, recap["h3"].Commands)
	}
	code, out, _ = runCLI("apply", "-i", inv, "--known-hosts", s.KnownHosts, rb)
	if code != cli.ExitOK || !strings.Contains(out, "h1 -> local") || !strings.Contains(out, "h3 -> h1") {
		t.Errorf("second run: exit %d, want ok and the delegation shown:\n%s", code, out)
	}
	if data2, _ := os.ReadFile(filepath.Join(dir, "hosts.txt")); string(data2) != string(data) {
		t.Errorf("second run changed hosts.txt: %q", data2)
	}
}

// A value h1 registered is read on h2 through .hostvars; in check mode,
// where h1's command does not run, it is unknown: would change, not a
// failure.
func TestHostvarsReadAnotherHostsRegisteredValue(t *testing.T) {
	s := sshtest.Start(t)
	inv := s.Inventory(t, "h1", "h2")
	dir := t.TempDir()
	rb := write(t, "site.yaml", fmt.Sprintf(`
steps:
  - name: make
    hosts: h1
    task: command
    with: {cmd: "echo made-on-{{ .host.name }}"}
    register: tok
  - name: use
    hosts: h2
    task: file
    with: {path: "%s/{{ .host.name }}", content: "{{ (index .hostvars \"h1\").tok.stdout }}"}
`, dir))
	code, out, _ := runCLI("apply", "-i", inv, "--known-hosts", s.KnownHosts, "--check", rb)
	if code != cli.ExitDrift || !strings.Contains(out, "would change h2") || !strings.Contains(out, ".hostvars.h1.tok") {
		t.Errorf("check: exit %d, want %d with h2 unknown:\n%s", code, cli.ExitDrift, out)
	}
	code, out, _ = runCLI("apply", "-i", inv, "--known-hosts", s.KnownHosts, rb)
	if code != cli.ExitOK {
		t.Fatalf("apply: exit %d\n%s", code, out)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "h2")); string(data) != "made-on-h1" {
		t.Errorf("h2 wrote %q, want what h1 registered", data)
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }
