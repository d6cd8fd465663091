package pkg_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/runbookdev/runbook/tasks/copy"
	_ "github.com/runbookdev/runbook/tasks/file"
	_ "github.com/runbookdev/runbook/tasks/pkg"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

// buildDeb makes a real Debian package on the controller with dpkg-deb.
func buildDeb(t *testing.T, dir, name, version string) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), name)
	os.MkdirAll(filepath.Join(root, "DEBIAN"), 0o755)
	os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
	os.WriteFile(filepath.Join(root, "DEBIAN/control"), []byte(fmt.Sprintf(
		"Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: runbook tests <tests@runbook.invalid>\nDescription: test package\n", name, version)), 0o644)
	os.WriteFile(filepath.Join(root, "usr/bin", name), []byte("#!/bin/sh\necho "+version+"\n"), 0o755)
	deb := filepath.Join(dir, fmt.Sprintf("%s_%s_all.deb", name, version))
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", root, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb: %v: %s", err, out)
	}
	return deb
}

// repo writes a flat apt repository index (Packages, Release) for debs.
func repo(t *testing.T, dir string, debs ...string) {
	t.Helper()
	var pkgs strings.Builder
	for _, deb := range debs {
		control, err := exec.Command("dpkg-deb", "--field", deb).Output()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := os.ReadFile(deb)
		sum := sha256.Sum256(data)
		fmt.Fprintf(&pkgs, "%sFilename: ./%s\nSize: %d\nSHA256: %s\n\n", control, filepath.Base(deb), len(data), hex.EncodeToString(sum[:]))
	}
	os.WriteFile(filepath.Join(dir, "Packages"), []byte(pkgs.String()), 0o644)
	sum := sha256.Sum256([]byte(pkgs.String()))
	release := fmt.Sprintf("Origin: runbook-tests\nLabel: runbook-tests\nSuite: local\nCodename: local\nSHA256:\n %s %d Packages\n", hex.EncodeToString(sum[:]), pkgs.Len())
	os.WriteFile(filepath.Join(dir, "Release"), []byte(release), 0o644)
}

// publish copies the repository to the host with runbook itself and
// points apt at it; lab hosts have no internet.
func publish(t *testing.T, env *tasktest.Env, dir string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("steps:\n  - {name: dir, hosts: h1, task: file, with: {path: /srv/repo, state: directory}}\n")
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		fmt.Fprintf(&b, "  - {name: %s, hosts: h1, task: copy, with: {src: %s, dest: /srv/repo/%s}}\n", e.Name(), filepath.Join(dir, e.Name()), e.Name())
	}
	if r := env.Apply(b.String()); r.Exit != 0 {
		t.Fatalf("publish: %s", r)
	}
	env.Sh("rm -f /etc/apt/sources.list && echo 'deb [trusted=yes] file:/srv/repo ./' > /etc/apt/sources.list.d/local.list && apt-get -q update >/dev/null")
}

func TestPackageTimeline(t *testing.T) {
	env := labkit.New(t)
	dir := t.TempDir()
	v1 := buildDeb(t, dir, "rbk-hello", "1.0")
	repo(t, dir, v1)
	publish(t, env, dir)

	present := "steps:\n  - {name: hello, hosts: h1, task: package, with: {name: [rbk-hello]}}\n"
	r := env.Apply(present, "--check")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("hello").Changes, ""), "+ install rbk-hello") {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("dpkg-query -W rbk-hello 2>/dev/null || echo none"); got != "none" {
		t.Fatal("check mode installed the package")
	}
	if r = env.Apply(present); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("rbk-hello"); got != "1.0" {
		t.Errorf("rbk-hello says %q", got)
	}
	if r = env.Apply(present, "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}
	env.Sh("dpkg -r rbk-hello >/dev/null")
	if r = env.Apply(present, "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("drift: %s", r)
	}
	if r = env.Apply(present); r.Exit != 0 {
		t.Fatalf("repair: %s", r)
	}

	// A newer version appears: latest sees it in apt's lists.
	v2 := buildDeb(t, dir, "rbk-hello", "2.0")
	repo(t, dir, v1, v2)
	publish(t, env, dir)
	latest := "steps:\n  - {name: hello, hosts: h1, task: package, with: {name: rbk-hello, state: latest}}\n"
	r = env.Apply(latest, "--check")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("hello").Changes, ""), "~ upgrade rbk-hello 1.0 -> 2.0") {
		t.Fatalf("latest check: %s", r)
	}
	if r = env.Apply(present, "--check"); r.Exit != 0 {
		t.Fatalf("present is satisfied by 1.0: %s", r)
	}
	if r = env.Apply(latest); r.Exit != 0 || env.Sh("rbk-hello") != "2.0" {
		t.Fatalf("upgrade: %s", r)
	}
	if r = env.Apply(latest, "--check"); r.Exit != 0 {
		t.Fatalf("after upgrade: %s", r)
	}
	absent := "steps:\n  - {name: hello, hosts: h1, task: package, with: {name: rbk-hello, state: absent}}\n"
	if r = env.Apply(absent); r.Exit != 0 || env.Sh("dpkg-query -W -f='${db:Status-Status}' rbk-hello 2>/dev/null || true") == "installed" {
		t.Fatalf("remove: %s", r)
	}
	if r = env.Apply("steps:\n  - {name: nope, hosts: h1, task: package, with: {name: no-such-package, state: latest}}\n", "--check"); r.Exit != tasktest.ExitError || !strings.Contains(r.Result("nope").Message, "not available") {
		t.Fatalf("unknown package: %s", r)
	}
}

// A version pinned as apt writes it (name=version) is compared with what
// is installed: equal is no change (it was "would change" on every run),
// another version is installed in its place, and an epoch the pin leaves
// out matches as apt matches it.
func TestPackagePinnedVersion(t *testing.T) {
	env := labkit.New(t)
	dir := t.TempDir()
	v1, v2 := buildDeb(t, dir, "rbk-pin", "1.0-1"), buildDeb(t, dir, "rbk-pin", "2.0-1")
	repo(t, dir, v1, v2)
	publish(t, env, dir)

	pin := func(v string) string {
		return "steps:\n  - {name: pin, hosts: h1, task: package, with: {name: [rbk-pin=" + v + "]}}\n"
	}
	r := env.Apply(pin("1.0-1"), "--check")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("pin").Changes, ""), "+ install rbk-pin=1.0-1") {
		t.Fatalf("first check: %s", r)
	}
	if r = env.Apply(pin("1.0-1")); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("dpkg-query -W -f='${Version}' rbk-pin"); got != "1.0-1" {
		t.Fatalf("installed %q", got)
	}
	if r = env.Apply(pin("1.0-1"), "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("the pinned version is installed, yet: %s", r)
	}
	r = env.Apply(pin("2.0-1"), "--check")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("pin").Changes, ""), "~ rbk-pin 1.0-1 -> 2.0-1") {
		t.Fatalf("another pin, check: %s", r)
	}
	if r = env.Apply(pin("2.0-1")); r.Exit != tasktest.ExitOK {
		t.Fatalf("another pin, apply: %s", r)
	}
	if got := env.Sh("dpkg-query -W -f='${Version}' rbk-pin"); got != "2.0-1" {
		t.Fatalf("installed %q after the second pin", got)
	}
	if r = env.Apply(pin("0:2.0-1"), "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("the pin with the epoch apt leaves out: %s", r)
	}
	if r = env.Apply(pin("1.0-1"), "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("a downgrade pin is drift too: %s", r)
	}
}
