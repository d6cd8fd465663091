package cli_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// sshEnv is one host, h1, behind a real sshd, for runs through the whole
// command line (`runbook apply ... --output json`) with any flags.
type sshEnv struct {
	t          *testing.T
	Dir        string // a scratch directory on the host (this machine)
	inventory  string
	knownHosts string
}

func newSSHEnv(t *testing.T) *sshEnv {
	s := sshtest.Start(t)
	return &sshEnv{t: t, Dir: t.TempDir(), inventory: s.Inventory(t, "h1"), knownHosts: s.KnownHosts}
}

// Apply runs the runbook text with args.
func (e *sshEnv) Apply(rb string, args ...string) tasktest.Run {
	e.t.Helper()
	p := filepath.Join(e.t.TempDir(), "site.yaml")
	if err := os.WriteFile(p, []byte(rb), 0o644); err != nil {
		e.t.Fatal(err)
	}
	return e.ApplyFile(p, args...)
}

// ApplyFile runs the runbook file with args.
func (e *sshEnv) ApplyFile(file string, args ...string) tasktest.Run {
	e.t.Helper()
	argv := append([]string{"apply", "-i", e.inventory, "--known-hosts", e.knownHosts, "--output", "json"}, args...)
	code, out, errOut := runCLI(append(argv, file)...)
	return tasktest.Decode(code, out, errOut)
}

// Text runs the runbook file with args and text output.
func (e *sshEnv) Text(file string, args ...string) (int, string) {
	e.t.Helper()
	argv := append([]string{"apply", "-i", e.inventory, "--known-hosts", e.knownHosts}, args...)
	code, out, errOut := runCLI(append(argv, file)...)
	return code, out + errOut
}
