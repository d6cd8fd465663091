package mount_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/mount"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

func rb(with string) string {
	return "steps:\n  - {name: m, hosts: h1, task: mount, with: " + with + "}\n"
}

// A tmpfs on a mount point whose name has a space, on a full lab host
// (its own mount namespace): check, apply, check, drift by hand in both
// the running mount and fstab, check, repair; then unmounted and absent.
func TestMountTimeline(t *testing.T) {
	env := labkit.New(t)
	tmp := rb(`{path: "/mnt/my data", src: tmpfs, fstype: tmpfs, opts: "size=8m,mode=0755", state: mounted}`)
	const line = `tmpfs /mnt/my\040data tmpfs size=8m,mode=0755 0 0`

	r := env.Apply(tmp, "--check", "--diff")
	changes := strings.Join(r.Result("m").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "+ directory /mnt/my data") || !strings.Contains(changes, "+ mount tmpfs on /mnt/my data (tmpfs)") || !strings.Contains(r.Result("m").Diff, "+"+line) {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh(`ls -d "/mnt/my data" 2>&1; grep -c 'my' /etc/fstab; true`); !strings.Contains(got, "No such file") || !strings.HasSuffix(got, "0") {
		t.Fatalf("check mode changed the host: %s", got)
	}
	if r = env.Apply(tmp); r.Exit != tasktest.ExitOK || r.Result("m").Status != engine.Changed {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh(`findmnt -n -o FSTYPE,SOURCE,OPTIONS "/mnt/my data"; tail -n1 /etc/fstab`); !strings.HasPrefix(got, "tmpfs  tmpfs  rw,relatime,size=8192k") || !strings.HasSuffix(got, "\n"+line) {
		t.Fatalf("after apply: %q", got)
	}
	if r = env.Apply(tmp, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}

	// Drift: unmounted by hand.
	env.Sh(`umount "/mnt/my data"`)
	r = env.Apply(tmp, "--check")
	if r.Exit != tasktest.ExitDrift || strings.Join(r.Result("m").Changes, ";") != "+ mount tmpfs on /mnt/my data (tmpfs)" {
		t.Fatalf("drift (unmounted) check: %s", r)
	}
	// Drift: something else mounted there, and the line edited.
	env.Sh(`mkdir -p /srv/other && mount --bind /srv/other "/mnt/my data" && sed -i 's/size=8m/size=4m/' /etc/fstab`)
	r = env.Apply(tmp, "--check")
	changes = strings.Join(r.Result("m").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "~ content /etc/fstab") || !strings.Contains(changes, "~ mounted on /mnt/my data: overlay[/srv/other] (overlay) -> tmpfs (tmpfs)") {
		t.Fatalf("drift check: %s", r)
	}
	if r = env.Apply(tmp); r.Exit != tasktest.ExitOK {
		t.Fatalf("repair: %s", r)
	}
	if r = env.Apply(tmp, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after repair: %s", r)
	}
	if got := env.Sh(`findmnt -n -o FSTYPE "/mnt/my data"; grep -c 'my' /etc/fstab`); got != "tmpfs\n1" {
		t.Fatalf("after repair: %q", got)
	}
	// Options changed in the runbook: fstab and a remount.
	ro := rb(`{path: "/mnt/my data", src: tmpfs, fstype: tmpfs, opts: "size=8m,mode=0755,ro", state: mounted}`)
	if r = env.Apply(ro); r.Exit != tasktest.ExitOK || !strings.Contains(strings.Join(r.Result("m").Changes, ";"), "~ remount /mnt/my data with size=8m,mode=0755,ro") {
		t.Fatalf("ro: %s", r)
	}
	if got := env.Sh(`findmnt -n -o OPTIONS "/mnt/my data"`); !strings.HasPrefix(got, "ro,") {
		t.Fatalf("not read-only: %q", got)
	}
	env.Sh(`mount -o remount,rw "/mnt/my data"`)
	if r = env.Apply(ro, "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("rw by hand is drift: %s", r)
	}

	// unmounted: the line stays, the mount goes; then absent.
	un := rb(`{path: "/mnt/my data", state: unmounted}`)
	if r = env.Apply(un); r.Exit != tasktest.ExitOK || strings.Join(r.Result("m").Changes, ";") != "- unmount /mnt/my data (tmpfs)" {
		t.Fatalf("unmounted: %s", r)
	}
	if got := env.Sh(`findmnt "/mnt/my data" >/dev/null && echo mounted; grep -c 'my' /etc/fstab`); got != "1" {
		t.Fatalf("after unmounted: %q", got)
	}
	if r = env.Apply(un, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("unmounted, second check: %s", r)
	}
	env.Sh(`mount "/mnt/my data"`)
	absent := rb(`{path: "/mnt/my data/", state: absent}`)
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent: %s", r)
	}
	if got := env.Sh(`findmnt "/mnt/my data" >/dev/null && echo mounted; grep -c 'my' /etc/fstab; true`); got != "0" {
		t.Fatalf("after absent: %q", got)
	}
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent, second check: %s", r)
	}
}

// A bind mount is recognised by the directory it shows, not its source's
// name in /proc (the filesystem that holds the directory).
func TestMountBind(t *testing.T) {
	env := labkit.New(t)
	env.Sh("mkdir -p /srv/data /srv/elsewhere && echo hi > /srv/data/f")
	bind := rb(`{path: /mnt/data, src: /srv/data, fstype: none, opts: bind, state: mounted}`)
	if r := env.Apply(bind, "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("first check: %s", r)
	}
	if r := env.Apply(bind); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("cat /mnt/data/f; tail -n1 /etc/fstab"); got != "hi\n/srv/data /mnt/data none bind 0 0" {
		t.Fatalf("after apply: %q", got)
	}
	if r := env.Apply(bind, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}
	env.Sh("umount /mnt/data && mount --bind /srv/elsewhere /mnt/data")
	if r := env.Apply(bind, "--check"); r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("m").Changes, ";"), "[/srv/elsewhere]") {
		t.Fatalf("drift check: %s", r)
	}
	if r := env.Apply(bind); r.Exit != tasktest.ExitOK {
		t.Fatalf("repair: %s", r)
	}
	if got := env.Sh("cat /mnt/data/f"); got != "hi" {
		t.Fatalf("after repair: %q", got)
	}
	if r := env.Apply(bind, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after repair: %s", r)
	}
}

// Bad parameters are refused before any host is contacted.
func TestMountRefusesBadInput(t *testing.T) {
	for _, with := range []string{
		`{path: mnt, src: tmpfs, fstype: tmpfs, state: mounted}`,
		`{path: /mnt/x, fstype: tmpfs, state: mounted}`,
		`{path: /mnt/x, src: tmpfs, fstype: tmpfs}`,
		`{path: /mnt/x, src: tmpfs, fstype: tmpfs, state: up}`,
		`{path: /mnt/x, src: tmpfs, fstype: tmpfs, opts: "size=8m, mode=0755", state: mounted}`,
		`{path: /mnt/x, src: tmpfs, state: unmounted}`,
		`{path: "/mnt/x\ny", src: tmpfs, fstype: tmpfs, state: mounted}`,
	} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: mount, with: "+with+"}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitError {
			t.Errorf("%s: %s", with, r)
		}
	}
	f := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: mount, with: {path: /mnt/x, src: tmpfs, fstype: tmpfs, state: mounted}}\n"), 0o644)
	if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitOK {
		t.Errorf("a good one: %s", r)
	}
}
