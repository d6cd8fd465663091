package modprobe_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/modprobe"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

func rb(with string) string {
	return "steps:\n  - {name: m, hosts: h1, task: modprobe, with: " + with + "}\n"
}

// A module built into the kernel counts as loaded. The lab hosts have no
// /sys/module, so this reads this machine's, in check mode only: nothing
// is loaded or written here.
func TestModprobeBuiltin(t *testing.T) {
	entries, err := os.ReadDir("/sys/module")
	if err != nil {
		t.Skipf("no /sys/module here: %v", err)
	}
	var builtin string
	for _, e := range entries {
		if _, err := os.Stat("/sys/module/" + e.Name() + "/initstate"); os.IsNotExist(err) {
			builtin = e.Name() // a loaded module has initstate; a built-in one has not
			break
		}
	}
	if builtin == "" {
		t.Skip("no built-in module listed in /sys/module")
	}
	env := tasktest.New(t)
	r := env.Apply(rb("{name: "+builtin+"}"), "--check")
	if r.Exit != tasktest.ExitOK || r.Result("m").Status != engine.OK {
		t.Fatalf("%s, built in, is loaded: %s", builtin, r)
	}
	r = env.Apply(rb("{name: "+builtin+", state: absent}"), "--check")
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Result("m").Message, "built into the kernel") {
		t.Fatalf("%s, built in, cannot be unloaded: %s", builtin, r)
	}
	r = env.Apply(rb("{name: rb_no_such_module}"), "--check")
	if r.Exit != tasktest.ExitDrift || strings.Join(r.Result("m").Changes, ";") != "+ load rb_no_such_module" {
		t.Fatalf("a module not loaded: %s", r)
	}
}

// The boot-time files on a full lab host. The lab host cannot load a
// module (no CAP_SYS_MODULE, no kmod, no /lib/modules): a load that is
// needed is a change in check mode and fails in a real run with
// modprobe's error, after the files are written.
func TestModprobePersistentTimeline(t *testing.T) {
	env := labkit.New(t)
	dummy := rb(`{name: dummy, params: "numdummies=2", persistent: true}`)
	r := env.Apply(dummy, "--check", "--diff")
	changes := strings.Join(r.Result("m").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "+ create /etc/modules-load.d/dummy.conf") || !strings.Contains(changes, "+ directory /etc/modprobe.d") ||
		!strings.Contains(changes, "+ create /etc/modprobe.d/dummy.conf") || !strings.HasSuffix(changes, "+ load dummy") || !strings.Contains(r.Result("m").Diff, "+options dummy numdummies=2") {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("ls /etc/modules-load.d; ls /etc/modprobe.d 2>&1; true"); strings.Contains(got, "dummy") || !strings.Contains(got, "No such file") {
		t.Fatalf("check mode wrote: %s", got)
	}
	r = env.Apply(dummy)
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Result("m").Message, "load dummy: modprobe -- dummy numdummies=2: exit status 127") {
		t.Fatalf("apply on a host that cannot load modules: %s", r)
	}
	if got := env.Sh("cat /etc/modules-load.d/dummy.conf /etc/modprobe.d/dummy.conf; stat -c '%a %U' /etc/modprobe.d/dummy.conf"); got != "dummy\noptions dummy numdummies=2\n644 root" {
		t.Fatalf("the files: %q", got)
	}
	r = env.Apply(dummy, "--check")
	if r.Exit != tasktest.ExitDrift || strings.Join(r.Result("m").Changes, ";") != "+ load dummy" {
		t.Fatalf("second check: only the load is left: %s", r)
	}

	// absent with persistent removes the files (the module is not loaded).
	absent := rb(`{name: dummy, state: absent, persistent: true}`)
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK || r.Result("m").Status != engine.Changed {
		t.Fatalf("absent: %s", r)
	}
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent, second check: %s", r)
	}
	// Drift by hand: the files put back, one edited.
	env.Sh("echo dummy > /etc/modules-load.d/dummy.conf && echo 'options dummy numdummies=9' > /etc/modprobe.d/dummy.conf")
	r = env.Apply(absent, "--check")
	if r.Exit != tasktest.ExitDrift || strings.Join(r.Result("m").Changes, ";") != "- remove /etc/modules-load.d/dummy.conf;- remove /etc/modprobe.d/dummy.conf" {
		t.Fatalf("drift check: %s", r)
	}
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK {
		t.Fatalf("repair: %s", r)
	}
	if got := env.Sh("ls /etc/modules-load.d /etc/modprobe.d"); strings.Contains(got, "dummy") {
		t.Fatalf("after repair: %s", got)
	}
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after repair: %s", r)
	}
	// The options file follows params: drift there is found and mended.
	noload := rb(`{name: dummy, params: "numdummies=2", persistent: true}`)
	env.Sh("echo dummy > /etc/modules-load.d/dummy.conf && echo 'options dummy numdummies=9' > /etc/modprobe.d/dummy.conf")
	r = env.Apply(noload, "--check")
	if changes := strings.Join(r.Result("m").Changes, ";"); !strings.Contains(changes, "~ content /etc/modprobe.d/dummy.conf") || strings.Contains(changes, "modules-load.d") {
		t.Fatalf("options drift: %s", r)
	}
}

// Bad parameters are refused before any host is contacted.
func TestModprobeRefusesBadInput(t *testing.T) {
	for _, with := range []string{`{name: "dummy; reboot"}`, `{name: ""}`, `{name: dummy, params: "a='b c'"}`, `{name: dummy, state: absent, params: a=1}`, `{name: dummy, state: loaded}`} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: modprobe, with: "+with+"}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitError {
			t.Errorf("%s: %s", with, r)
		}
	}
	f := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: modprobe, with: {name: br-netfilter, params: \"a=1 b\", persistent: true}}\n"), 0o644)
	if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitOK {
		t.Errorf("a good one: %s", r)
	}
}
