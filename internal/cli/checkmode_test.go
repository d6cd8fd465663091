package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/engine"
)

// In check mode, a step after one that would change the host is unknown
// only when the module says its answer depends on that change; a mistake
// of the runbook's own (a template source that is not there) is an error.
func TestCheckModeUnknownIsExplicit(t *testing.T) {
	env := newSSHEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.conf.tmpl"), []byte("port={{ .port }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	site := func(src string) string {
		p := filepath.Join(dir, "site.yaml")
		os.WriteFile(p, []byte(fmt.Sprintf(`
vars: {app: app, port: 80}
steps:
  - {name: etc, hosts: h1, task: file, with: {path: %[1]s/etc, state: directory}}
  - {name: conf, hosts: h1, task: template, with: {src: "%[2]s", dest: %[1]s/etc/app.conf}}
`, env.Dir, src)), 0o644)
		return p
	}

	// The typo: the step fails, and the check exits 1, not 2 (drift).
	r := env.ApplyFile(site("{{ .app }}.conf.tmp"), "--check")
	ev := r.Result("conf")
	if r.Exit != cli.ExitError || ev.Status != engine.Failed || !strings.Contains(ev.Message, "app.conf.tmp") {
		t.Fatalf("a template source that is not there is an error, not drift: %s", r)
	}

	// Without it, the directory the file goes in is what the earlier step
	// would create: unknown, reported as would change.
	r = env.ApplyFile(site("{{ .app }}.conf.tmpl"), "--check")
	ev = r.Result("conf")
	if r.Exit != cli.ExitDrift || ev.Status != engine.Changed || !ev.Unknown || !strings.Contains(strings.Join(ev.Changes, ""), "unknown until earlier steps are applied") {
		t.Fatalf("a file in a directory an earlier step creates is unknown: %s", r)
	}
	if r = env.ApplyFile(site("{{ .app }}.conf.tmpl")); r.Exit != cli.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if r = env.ApplyFile(site("{{ .app }}.conf.tmpl"), "--check"); r.Exit != cli.ExitOK {
		t.Fatalf("second check: %s", r)
	}
}
