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
	"github.com/runbookdev/runbook/internal/sshtest"
)

// fleet is an inventory of three hosts that are one sshtest server under
// three names, in a directory of its own (for group_vars/ and host_vars/).
type fleet struct {
	s   *sshtest.Server
	dir string
	inv string
}

func newFleet(t *testing.T, extra string) *fleet {
	t.Helper()
	s := sshtest.Start(t)
	dir := t.TempDir()
	inv := filepath.Join(dir, "hosts.yaml")
	content := fmt.Sprintf(`defaults: {address: 127.0.0.1, port: %d, user: %s, key: %s}
hosts:
  web01:
  web02:
  db01:
groups:
  web: {hosts: [web01, web02]}
  db: {hosts: [db01]}
  spare: {hosts: []}
%s`, s.Port, s.User, s.KeyFile, extra)
	if err := os.WriteFile(inv, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return &fleet{s: s, dir: dir, inv: inv}
}

func (f *fleet) apply(args ...string) (int, string, string) {
	return runCLI(append([]string{"apply", "-i", f.inv, "--known-hosts", f.s.KnownHosts}, args...)...)
}

// A run whose patterns (and --limit) leave no host at all is an error
// before any host is contacted: a drift check in CI must not pass on
// nothing. Each of these ran no step and exited 0.
func TestRunOnNoHostIsAnError(t *testing.T) {
	f := newFleet(t, "")
	marker := filepath.Join(t.TempDir(), "ran")
	site := func(hosts ...string) string {
		var b strings.Builder
		for i, h := range hosts {
			fmt.Fprintf(&b, "  - {name: s%d, hosts: %q, task: file, with: {path: %q, content: x}}\n", i, h, marker)
		}
		return write(t, "site.yaml", "steps:\n"+b.String())
	}
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"an intersection of groups with no host in common", []string{site("web:&db")},
			[]string{`site.yaml:2:23: hosts: "web:&db" selects no host`, "runs on any host: nothing would run"}},
		{"exclusions that leave nothing", []string{site("web:!web01:!web02", "db:!db01")},
			[]string{`site.yaml:2:23: hosts: "web:!web01:!web02" selects no host`, `site.yaml:3:23: hosts: "db:!db01" selects no host`, "runs on any host"}},
		{"the same in check mode", []string{"--check", site("web:&db")},
			[]string{`hosts: "web:&db" selects no host`}},
		{"an empty group", []string{site("spare")},
			[]string{`site.yaml:2:23: hosts: "spare": group "spare" has no hosts`}},
		{"--limit outside every step's hosts", []string{"--limit", "db01", site("web")},
			[]string{`--limit db01: no step of`, `runs on these hosts (hosts: "web" at `}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := f.apply(tt.args...)
			for _, want := range tt.want {
				if code != cli.ExitError || !strings.Contains(errOut, want) {
					t.Errorf("exit %d, want 1 and %q on stderr\nstdout: %s\nstderr: %s", code, want, out, errOut)
				}
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("a step ran")
			}
		})
	}
}

// A step on the controller may add hosts to the inventory: a pattern
// that matches nothing after it is matched when reached, and in check mode,
// where the step only would have run, it is a warning, not an error.
func TestControllerStepMayAddHosts(t *testing.T) {
	f := newFleet(t, "")
	data, err := os.ReadFile(f.inv)
	if err != nil {
		t.Fatal(err)
	}
	grown := strings.Replace(string(data), "  db01:\n", "  db01:\n  web03:\n", 1)
	out := filepath.Join(t.TempDir(), "out")
	rb := write(t, "site.yaml", fmt.Sprintf(`steps:
  - {name: provision, hosts: local, task: file, with: {path: %q, content: %q}}
  - {name: new, hosts: web03, task: file, with: {path: %q, content: "{{ .host.name }}"}}
`, f.inv, grown, out))
	code, stdout, errOut := f.apply("--check", rb)
	if code != cli.ExitDrift || !strings.Contains(stdout, `WARNING`) || !strings.Contains(stdout, `"web03": no host or group "web03"`) {
		t.Errorf("check: exit %d, want 2 and a warning\n%s%s", code, stdout, errOut)
	}
	code, stdout, errOut = f.apply(rb)
	if code != cli.ExitOK {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, errOut)
	}
	if got, _ := os.ReadFile(out); string(got) != "web03" {
		t.Errorf("the new host's step wrote %q", got)
	}
}

// steerBook writes a runbook that imports another, each step writing a
// file named after it under out on every web host.
func steerBook(t *testing.T, out string) string {
	t.Helper()
	dir := t.TempDir()
	step := func(name, extra string) string {
		return fmt.Sprintf("  - {name: %s, hosts: web, task: file, with: {path: \"%s/{{ .host.name }}-%s\", content: x}%s}\n", name, out, name, extra)
	}
	lib := "steps:\n" + step("configure", ", tags: [config], register: conf") + step("restart", ", notify: reload")
	lib += "handlers:\n  - {name: reload, task: command, with: {cmd: \"touch " + out + "/{{ .host.name }}-reload\"}}\n"
	if err := os.WriteFile(filepath.Join(dir, "lib.yaml"), []byte(lib), 0o644); err != nil {
		t.Fatal(err)
	}
	site := "steps:\n" + step("install", ", tags: [pkg]") +
		"  - {name: common, import: lib.yaml, tags: [common]}\n" +
		step("verify", "") +
		"  - {name: report, hosts: db, task: command, with: {cmd: \"true\", creates: /}}\n"
	p := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(p, []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func written(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// --start-at-task skips the steps before the first one of that name,
// through imports, in the order they run.
func TestStartAtTask(t *testing.T) {
	f := newFleet(t, "")
	for _, tt := range []struct{ start, want string }{
		{"restart", "web01-reload web01-restart web01-verify web02-reload web02-restart web02-verify"},
		{"common", "web01-configure web01-reload web01-restart web01-verify web02-configure web02-reload web02-restart web02-verify"},
		{"verify", "web01-verify web02-verify"},
	} {
		out := t.TempDir()
		code, stdout, errOut := f.apply("--start-at-task", tt.start, steerBook(t, out))
		if code != cli.ExitOK {
			t.Fatalf("--start-at-task %s: exit %d\n%s%s", tt.start, code, stdout, errOut)
		}
		if got := written(t, out); got != tt.want {
			t.Errorf("--start-at-task %s wrote %s\nwant %s", tt.start, got, tt.want)
		}
	}

	out := t.TempDir()
	code, stdout, errOut := f.apply("--start-at-task", "configur", steerBook(t, out))
	want := `--start-at-task "configur": no step has this name; did you mean "configure"?`
	if code != cli.ExitError || stdout != "" || !strings.Contains(errOut, want) {
		t.Errorf("unknown name: exit %d, want 1 and %q\n%s%s", code, want, stdout, errOut)
	}
	if got := written(t, out); got != "" {
		t.Errorf("an unknown name ran steps: %s", got)
	}

	// What a skipped step registers is not there for the steps after it.
	rb := write(t, "reg.yaml", fmt.Sprintf(`steps:
  - {name: probe, hosts: web, task: command, with: {cmd: hostname, read_only: true}, register: probe}
  - {name: use, hosts: web, task: file, with: {path: %q, content: "{{ .probe.stdout }}"}}
`, filepath.Join(out, "x")))
	code, stdout, errOut = f.apply("--start-at-task", "use", rb)
	want = `undefined variable "probe" on web01, web02: step "probe" at ` + rb + `:2:5 registers it, but --start-at-task skips it`
	if code != cli.ExitError || !strings.Contains(errOut, want) {
		t.Errorf("registered by a skipped step: exit %d, want %q\n%s%s", code, want, stdout, errOut)
	}
}

// --list-hosts and --list-tasks print what a run would do, step by step
// through imports, handlers where they run; nothing runs.
func TestListHostsAndTasks(t *testing.T) {
	f := newFleet(t, "")
	out := t.TempDir()
	rb := steerBook(t, out)
	dir := filepath.Dir(rb)
	code, stdout, errOut := f.apply("--list-hosts", "--list-tasks", rb)
	want := `RUNBOOK DIR/site.yaml

STEP install [file] DIR/site.yaml:2:5  TAGS: [pkg]
    hosts "web" (2): web01, web02
IMPORT DIR/lib.yaml (common) DIR/site.yaml:3:5
  STEP configure [file] DIR/lib.yaml:2:5  TAGS: [common, config]
      hosts "web" (2): web01, web02
  STEP restart [file] DIR/lib.yaml:3:5  TAGS: [common]
      hosts "web" (2): web01, web02
  HANDLER reload [command] DIR/lib.yaml:5:5
      hosts (at most 2, those notified): web01, web02
STEP verify [file] DIR/site.yaml:4:5
    hosts "web" (2): web01, web02
STEP report [command] DIR/site.yaml:5:5
    hosts "db" (1): db01

HOSTS (3)
  web01
  web02
  db01
`
	if got := strings.ReplaceAll(stdout, dir, "DIR"); code != cli.ExitOK || got != want {
		t.Errorf("--list-hosts --list-tasks: exit %d %s\n%s", code, errOut, cmp.Diff(want, got))
	}

	code, stdout, errOut = f.apply("--list-tasks", "--tags", "config,pkg", rb)
	want = `RUNBOOK DIR/site.yaml

STEP install [file] DIR/site.yaml:2:5  TAGS: [pkg]
IMPORT DIR/lib.yaml (common) DIR/site.yaml:3:5
  STEP configure [file] DIR/lib.yaml:2:5  TAGS: [common, config]
`
	if got := strings.ReplaceAll(stdout, dir, "DIR"); code != cli.ExitOK || got != want {
		t.Errorf("--list-tasks --tags: exit %d %s\n%s", code, errOut, cmp.Diff(want, got))
	}

	code, stdout, errOut = f.apply("--list-hosts", "--limit", "web02,db01", "--start-at-task", "restart", "--output", "json", rb)
	if code != cli.ExitOK {
		t.Fatalf("json: exit %d %s", code, errOut)
	}
	var view struct {
		Steps []struct {
			Step       string
			Handler    bool
			Hosts      []string
			HostsKnown bool `json:"hosts_known"`
		}
		Hosts []string
	}
	if err := json.Unmarshal([]byte(stdout), &view); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	var got []string
	for _, s := range view.Steps {
		got = append(got, fmt.Sprintf("%s handler=%v known=%v %v", s.Step, s.Handler, s.HostsKnown, s.Hosts))
	}
	wantSteps := []string{
		"restart handler=false known=true [web02]",
		"reload handler=true known=true [web02]",
		"verify handler=false known=true [web02]",
		"report handler=false known=true [db01]",
	}
	if diff := cmp.Diff(wantSteps, got); diff != "" || !slices.Equal(view.Hosts, []string{"web02", "db01"}) {
		t.Errorf("json steps (-want +got):\n%s\nhosts %v\n%s", diff, view.Hosts, stdout)
	}
	if got := written(t, out); got != "" {
		t.Errorf("listing ran steps: %s", got)
	}

	// Hosts after a step on the controller are matched when reached.
	later := write(t, "later.yaml", fmt.Sprintf(`steps:
  - {name: provision, hosts: local, task: file, with: {path: %q, content: x}}
  - {name: configure, hosts: all, task: file, with: {path: /tmp/x, content: x}}
`, filepath.Join(out, "provisioned")))
	code, stdout, errOut = f.apply("--list-hosts", later)
	for _, want := range []string{
		`    hosts "local" (1): local`,
		`    hosts "all": not known before the run: matched when reached, as step "provision" (` + later + `:2:5) runs on the controller before it and may change the inventory`,
		"HOSTS (1 known before the run)\n  local\n",
	} {
		if code != cli.ExitOK || !strings.Contains(stdout, want) {
			t.Errorf("exit %d %s, want %q in:\n%s", code, errOut, want, stdout)
		}
	}
	if got := written(t, out); got != "" {
		t.Errorf("listing ran steps: %s", got)
	}
}

// Blocks and groups in batches: --list-hosts shows a block's steps under
// it, narrowed to its hosts; --start-at-task inside a group in batches
// skips the same steps in every batch.
func TestListAndStartAtThroughBlocks(t *testing.T) {
	f := newFleet(t, "")
	out := t.TempDir()
	step := func(name, extra string) string {
		return fmt.Sprintf("{name: %s, task: file, with: {path: \"%s/{{ .host.name }}-%s\", content: x}%s}", name, out, name, extra)
	}
	rb := write(t, "site.yaml", `steps:
  - name: rolling
    hosts: web
    serial: 1
    block:
      - `+step("drain", ", hosts: all")+`
      - `+step("restart", "")+`
    rescue:
      - `+step("undrain", "")+`
    always:
      - `+step("log", "")+`
  - `+step("report", ", hosts: db")+`
`)
	code, stdout, errOut := f.apply("--list-hosts", rb)
	want := `RUNBOOK SITE

BLOCK rolling SITE:2:5  hosts (2): web01, web02, serial: 1
  STEP drain [file] SITE:6:9
      hosts "all" (2): web01, web02
  STEP restart [file] SITE:7:9
      hosts "web" (2): web01, web02
RESCUE rolling, on the hosts that fail in the block
  STEP undrain [file] SITE:9:9
      hosts "web" (at most 2, those that fail in the block): web01, web02
ALWAYS rolling, on every host that entered the block
  STEP log [file] SITE:11:9
      hosts "web" (2): web01, web02
STEP report [file] SITE:12:5
    hosts "db" (1): db01

HOSTS (3)
  web01
  web02
  db01
`
	if got := strings.ReplaceAll(stdout, rb, "SITE"); code != cli.ExitOK || got != want {
		t.Errorf("--list-hosts: exit %d %s\n%s", code, errOut, cmp.Diff(want, got))
	}

	code, stdout, errOut = f.apply("--start-at-task", "restart", rb)
	if code != cli.ExitOK {
		t.Fatalf("--start-at-task restart: exit %d\n%s%s", code, stdout, errOut)
	}
	if got, want := written(t, out), "db01-report web01-log web01-restart web02-log web02-restart"; got != want {
		t.Errorf("--start-at-task restart wrote %s\nwant %s", got, want)
	}
	code, _, errOut = f.apply("--start-at-task", "undrain", rb)
	if want := `--start-at-task "undrain": no step has this name; did you mean "drain"? (handlers and a block's rescue and always steps cannot be started at)`; code != cli.ExitError || !strings.Contains(errOut, want) {
		t.Errorf("a rescue step: exit %d, want %q\n%s", code, want, errOut)
	}
}

// --list-hosts says where run_once and delegated steps run their module.
func TestListRunOnceAndDelegation(t *testing.T) {
	f := newFleet(t, "")
	rb := write(t, "site.yaml", `steps:
  - {name: gen, hosts: web, run_once: true, task: command, with: {cmd: "true", creates: /}}
  - {name: log, hosts: web, delegate_to: local, task: command, with: {cmd: "true", creates: /}}
`)
	code, stdout, errOut := f.apply("--list-hosts", rb)
	for _, want := range []string{
		`    hosts "web" (2): web01, web02; runs once per batch, on its first host, for all of them` + "\n",
		`    hosts "web" (2): web01, web02; its module runs on "local" on their behalf` + "\n",
	} {
		if code != cli.ExitOK || !strings.Contains(stdout, want) {
			t.Errorf("exit %d %s, want %q in:\n%s", code, errOut, want, stdout)
		}
	}
}
