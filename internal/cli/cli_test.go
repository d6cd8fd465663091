package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/sshtest"
	_ "github.com/runbookdev/runbook/inventory/equinixmetal"
	_ "github.com/runbookdev/runbook/tasks/all"
)

func runCLI(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestValidate(t *testing.T) {
	good := write(t, "good.yaml", "steps:\n  - {name: a, hosts: all, task: command, with: {cmd: \"true\"}}\n")
	code, out, _ := runCLI("validate", good)
	if code != cli.ExitOK || !strings.Contains(out, "good.yaml: ok (1 steps in 1 files)") {
		t.Errorf("validate good: %d %q", code, out)
	}
	bad := write(t, "bad.yaml", "steps:\n  - {name: a, hosts: all, task: command, with: {cmd: \"true\", unles: x}}\n")
	code, _, errOut := runCLI("validate", bad)
	if code != cli.ExitError || !strings.Contains(errOut, `bad.yaml:2:62: task command: unknown key "unles"; did you mean "unless"?`) {
		t.Errorf("validate bad: %d %q", code, errOut)
	}
}

func TestApplyRefusesBadInputBeforeContactingHosts(t *testing.T) {
	bad := write(t, "bad.yaml", "steps:\n  - {name: a, hosts: all, task: file, with: {path: /tmp/x, mode: rw}}\n")
	inv := write(t, "hosts.yaml", "hosts:\n  h1: {address: 127.0.0.1, port: 1}\n")
	code, out, errOut := runCLI("apply", "-i", inv, bad)
	if code != cli.ExitError || out != "" || !strings.Contains(errOut, "bad.yaml:2:66: task file: mode: want octal") {
		t.Errorf("%d out=%q err=%q", code, out, errOut)
	}
	good := write(t, "good.yaml", "steps:\n  - {name: a, hosts: all, task: command, with: {cmd: \"true\"}}\n")
	code, _, errOut = runCLI("apply", "-e", "novalue", good)
	if code != cli.ExitError || !strings.Contains(errOut, "want key=value") {
		t.Errorf("bad -e: %d %q", code, errOut)
	}
}

func TestUnreachableHostsDoNotStopOthers(t *testing.T) {
	s := sshtest.Start(t)
	inv := write(t, "hosts.yaml", fmt.Sprintf(`
defaults: {address: 127.0.0.1, user: %s, key: %s}
hosts:
  up: {port: %d}
  down: {port: %d}
`, s.User, s.KeyFile, s.Port, sshtest.FreePort(t)))
	dir := t.TempDir()
	rb := write(t, "site.yaml", fmt.Sprintf(`
steps:
  - {name: one, hosts: all, task: file, with: {path: "%[1]s/{{ .host.name }}-1", content: x}}
  - {name: two, hosts: all, task: file, with: {path: "%[1]s/{{ .host.name }}-2", content: x}}
`, dir))
	code, out, _ := runCLI("apply", rb, "-i", inv, "--known-hosts", s.KnownHosts, "--connect-timeout", "3s")
	if code != cli.ExitError {
		t.Errorf("exit %d, want 1 with an unreachable host\n%s", code, out)
	}
	for _, f := range []string{"up-1", "up-2"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not written: the reachable host should go on\n%s", f, out)
		}
	}
	if !strings.Contains(out, "unreachable  down") || !strings.Contains(out, "unreachable=1") {
		t.Errorf("output does not report the unreachable host:\n%s", out)
	}
}

func TestUnknownHostKeyThroughTheCLI(t *testing.T) {
	s := sshtest.Start(t)
	inv := s.Inventory(t, "h1")
	kh := filepath.Join(t.TempDir(), "known_hosts")
	rb := write(t, "site.yaml", "steps:\n  - {name: a, hosts: all, task: command, with: {cmd: \"true\", creates: /}}\n")
	code, out, _ := runCLI("apply", "-i", inv, "--known-hosts", kh, rb)
	if code != cli.ExitError || !strings.Contains(out, "is not known") || !strings.Contains(out, "--accept-new-host-keys") {
		t.Fatalf("%d\n%s", code, out)
	}
	code, out, _ = runCLI("apply", "-i", inv, "--known-hosts", kh, "--accept-new-host-keys", rb)
	if code != cli.ExitOK {
		t.Fatalf("%d\n%s", code, out)
	}
	code, out, _ = runCLI("apply", "-i", inv, "--known-hosts", kh, "--check", rb)
	if code != cli.ExitOK {
		t.Fatalf("recorded key not used: %d\n%s", code, out)
	}
}

func TestJSONOutputAndExtraVars(t *testing.T) {
	dir := t.TempDir()
	inv := write(t, "hosts.yaml", "hosts:\n  me: {connection: local}\n")
	vars := write(t, "vars.yaml", "who: !secret file-secret\n")
	rb := write(t, "site.yaml", fmt.Sprintf(`
vars: {count: 1}
steps:
  - name: write
    hosts: me
    task: file
    with: {path: "%s/out", content: "{{ .who }} {{ .count }} {{ if gt .count 2 }}big{{ end }}"}
`, dir))
	code, out, errOut := runCLI("apply", "-i", inv, "-e", "count=3", "-e", "@"+vars, "--output", "json", "--diff", rb)
	if code != cli.ExitOK {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "out")); string(data) != "file-secret 3 big" {
		t.Errorf("out = %q: -e count=3 should be a number", data)
	}
	var types []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var ev engine.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		types = append(types, ev.Type)
		if ev.Type == engine.HostResult && (ev.Host != "me" || ev.Status != engine.Changed || ev.Diff == "") {
			t.Errorf("host_result = %+v", ev)
		}
	}
	if got := strings.Join(types, ","); got != "run_start,step_start,host_result,recap" {
		t.Errorf("events = %s", got)
	}
	if strings.Contains(out, "file-secret") {
		t.Errorf("secret shown:\n%s", out)
	}
}

func TestInventoryCommand(t *testing.T) {
	inv := write(t, "hosts.yaml", "vars: {a: 1, b: \"{{ .a }}-{{ .host.name }}\", pw: !secret x}\nhosts:\n  h1: {address: 10.1.1.1, user: u, port: 2200}\ngroups:\n  g: {hosts: [h1]}\n")
	code, out, errOut := runCLI("inventory", "-i", inv)
	if code != 0 {
		t.Fatal(errOut)
	}
	for _, want := range []string{"h1  u@10.1.1.1:2200  groups: g", "b: 1-h1", "pw: '********'", "g: h1"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestTasksDocIsInSync(t *testing.T) {
	code, out, _ := runCLI("tasks", "--output", "markdown")
	if code != 0 {
		t.Fatal(code)
	}
	doc, err := os.ReadFile("../../docs/tasks.md")
	if err != nil {
		t.Fatal(err)
	}
	if string(doc) != out {
		t.Error("docs/tasks.md is out of date: run `make docs`")
	}
}

func TestUsageAndFlagsAfterArguments(t *testing.T) {
	if code, _, errOut := runCLI("nope"); code != cli.ExitError || !strings.Contains(errOut, "unknown command") {
		t.Errorf("%d %q", code, errOut)
	}
	inv := write(t, "hosts.yaml", "hosts:\n  me: {connection: local}\n")
	p := filepath.Join(t.TempDir(), "f")
	rb := write(t, "site.yaml", fmt.Sprintf("steps:\n  - {name: w, hosts: me, task: file, with: {path: %s, content: x}}\n", p))
	code, out, _ := runCLI("apply", rb, "-i", inv, "--check")
	if code != cli.ExitDrift || !strings.Contains(out, "would change") {
		t.Errorf("%d\n%s", code, out)
	}
	if _, err := os.Stat(p); err == nil {
		t.Error("--check after the runbook was ignored")
	}
}

// TestShippedFilesValidate keeps the runbooks and example inventories in
// the repository valid.
func TestShippedFilesValidate(t *testing.T) {
	runbooks, _ := filepath.Glob("../../runbooks/examples/*.yaml")
	top, _ := filepath.Glob("../../runbooks/*.yaml")
	invs, _ := filepath.Glob("../../inventory/*.yaml")
	if len(runbooks)+len(top) == 0 || len(invs) == 0 {
		t.Fatal("no shipped runbooks or inventories found")
	}
	args := []string{"validate"}
	for _, f := range invs {
		args = append(args, "-i", f)
	}
	args = append(append(args, runbooks...), top...)
	if code, out, errOut := runCLI(args...); code != 0 {
		t.Errorf("%s%s", out, errOut)
	}
}

// TestApplyRefusesBeforeContactingAnyHost: each of these ran (on the wrong
// hosts, or on none, exiting 0), or failed host by host.
func TestApplyRefusesBeforeContactingAnyHost(t *testing.T) {
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts.yaml")
	os.WriteFile(inv, []byte("defaults: {address: 127.0.0.1, port: 1}\nhosts:\n  web01:\n  db01:\n  db02: {key: nokey}\ngroups:\n  web: {hosts: [web01]}\n  db: {hosts: [db01, db02]}\n"), 0o644)
	site := func(hosts, with string) string {
		p := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(p, []byte(fmt.Sprintf("steps:\n  - {name: a, hosts: %s, task: command, with: {cmd: %s}, tags: [deploy]}\n", hosts, with)), 0o644)
		return p
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"an exclusion typo", []string{site(`"web:!dbb"`, "hostname")}, `site.yaml:2:22: hosts: "web:!dbb": no host or group "dbb"; did you mean "db"?`},
		{"--limit nosuchhost", []string{"--limit", "nosuchhost", site("web", "hostname")}, `--limit "nosuchhost": no host or group "nosuchhost"`},
		{"--tags nothing has", []string{"--tags", "deploi", site("web", "hostname")}, `--tags "deploi": no step has this tag; did you mean "deploy"?`},
		{"--skip-tags nothing has", []string{"--skip-tags", "slow", site("web", "hostname")}, `--skip-tags "slow": no step has this tag`},
		{"an empty pattern", []string{site(`""`, "hostname")}, `site.yaml:2:22: hosts: "": empty pattern`},
		{"an undefined variable", []string{site("web", `"echo {{ .version }}"`)}, `site.yaml:2:54: undefined variable "version" on web01: define it in the runbook's vars, the inventory or with -e version=...`},
		{"a key file that is not there", []string{site("db", "hostname")}, `hosts.yaml:5:15: key ` + dir + `/nokey (for db02): no such file: fix key: in the inventory`},
		{"--connect-timeout below zero", []string{"--connect-timeout", "-1s", site("web", "hostname")}, "--connect-timeout must be above 0, such as 20s; got -1s"},
		{"--connect-timeout 0", []string{"--connect-timeout", "0", site("web", "hostname")}, "--connect-timeout must be above 0, such as 20s; got 0s"},
		{"--private-key that is not there", []string{"--private-key", filepath.Join(dir, "id_none"), site("web", "hostname")}, "--private-key " + dir + "/id_none: no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(append([]string{"apply", "-i", inv, "--connect-timeout", "2s"}, tt.args...)...)
			if code != cli.ExitError || out != "" || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d\nstdout: %s\nstderr: %s\nwant on stderr: %s", code, out, errOut, tt.want)
			}
		})
	}
}

// TestValidateKnowsWhatApplyWould: validate takes -e like apply, and checks
// a runbook against its inventory, as apply will before it starts.
func TestValidateKnowsWhatApplyWould(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "hosts.yaml"), []byte("hosts:\n  web01: {address: 10.0.0.1}\ngroups:\n  web: {hosts: [web01]}\n"), 0o644)
	rb := filepath.Join(dir, "site.yaml")
	os.WriteFile(rb, []byte("inventory: hosts.yaml\nsteps:\n  - {name: a, hosts: \"{{ .target }}\", task: command, with: {cmd: \"echo {{ .version }}\"}}\n"), 0o644)
	code, out, errOut := runCLI("validate", "-e", "target=web", "-e", "version=1.2", rb)
	if code != cli.ExitOK || !strings.Contains(out, "site.yaml: ok (1 steps in 1 files)") {
		t.Errorf("with -e: exit %d\n%s%s", code, out, errOut)
	}
	code, _, errOut = runCLI("validate", "-e", "target=wbe", rb)
	for _, want := range []string{`site.yaml:3:22: hosts: "wbe": no host or group "wbe"; did you mean "web"?`, `undefined variable "version"`} {
		if code != cli.ExitError || !strings.Contains(errOut, want) {
			t.Errorf("exit %d, want %q in:\n%s", code, want, errOut)
		}
	}
	// Without an inventory, what depends on one is left to apply, and said.
	bare := write(t, "bare.yaml", "steps:\n  - {name: a, hosts: web, task: command, with: {cmd: \"echo {{ .version }}\"}}\n")
	code, out, errOut = runCLI("validate", bare)
	if code != cli.ExitOK || !strings.Contains(out, "bare.yaml: ok (1 steps in 1 files); hosts and inventory variables not checked: no inventory, give one with -i") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
}
