// Package labkit is the module test kit's heavy half: a full lab host as
// h1, and runbook's whole command line. It compiles in the lab, its Metal
// API and the Equinix SDK, which tests on plain sshd hosts (tasktest.New)
// need not; the tests that use it are gated on the lab (root, systemd-nspawn).
package labkit

import (
	"bytes"
	"context"
	"testing"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/lab"
	"github.com/runbookdev/runbook/internal/labtest"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// New boots a full lab host (systemd, apt, users of its own) as h1: for
// modules that change the system. It needs root.
func New(t testing.TB) *tasktest.Env {
	t.Helper()
	l := labtest.Open(t)
	hosts, _, kh := labtest.Hosts(t, l, lab.Full, "h1")
	return tasktest.At(t, tasktest.Host{Address: hosts[0].Public.String(), User: "root", KeyFile: l.KeyFile(), KnownHosts: kh, Dir: "/root"})
}

// CLI runs runbook with args (which should ask for --output json) and
// returns its exit code and events, for tests of what only the command
// line does: dynamic inventories, `runbook inventory`, a runbook's own
// inventory:.
func CLI(t testing.TB, args ...string) tasktest.Run {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Run(context.Background(), args, &stdout, &stderr)
	return tasktest.Decode(code, stdout.String(), stderr.String())
}
