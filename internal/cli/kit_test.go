package cli_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// Module tests run steps through tasktest, which drives the engine without
// the command line: what it reports must be what `runbook apply` reports,
// exit codes and refusals alike.
func TestModuleTestKitAppliesAsTheCLI(t *testing.T) {
	s := sshtest.Start(t)
	env := tasktest.At(t, tasktest.Host{Address: s.Addr, Port: s.Port, User: s.User, KeyFile: s.KeyFile, KnownHosts: s.KnownHosts, Dir: t.TempDir()})
	inv := s.Inventory(t, "h1")
	file := write(t, "file.yaml", fmt.Sprintf("steps:\n  - {name: f, hosts: h1, task: file, with: {path: %s, content: \"{{ .greeting }}\\n\"}}\n", filepath.Join(env.Dir, "f")))
	failing := write(t, "failing.yaml", "steps:\n  - {name: no, hosts: h1, task: command, with: {cmd: \"false\"}}\n")
	bad := write(t, "bad.yaml", "steps:\n  - {name: f, hosts: h1, task: file, with: {path: /x, mode: 999}}\n")
	for _, tc := range []struct {
		name  string
		rb    string
		flags []string
		exit  int
	}{
		{"check finds drift", file, []string{"--check", "-e", "greeting=hi"}, tasktest.ExitDrift},
		{"apply", file, []string{"-e", "greeting=hi"}, tasktest.ExitOK},
		{"check in sync", file, []string{"--check", "-e", "greeting=hi"}, tasktest.ExitOK},
		{"undefined variable", file, []string{"--check"}, tasktest.ExitError},
		{"failed step", failing, nil, tasktest.ExitError},
		{"bad parameters", bad, []string{"--check"}, tasktest.ExitError},
	} {
		kit := env.ApplyFile(tc.rb, tc.flags...)
		args := append([]string{"apply", "-i", inv, "--known-hosts", s.KnownHosts, "--output", "json"}, tc.flags...)
		code, out, errOut := runCLI(append(args, tc.rb)...)
		cli := tasktest.Decode(code, out, errOut)
		if kit.Exit != tc.exit || cli.Exit != tc.exit {
			t.Errorf("%s: exit %d from the kit, %d from the CLI, want %d\nkit: %s\ncli: %s", tc.name, kit.Exit, cli.Exit, tc.exit, kit, cli)
		}
		// The kit applies first, so the CLI finds nothing left to do.
		same := tc.name == "apply" || fmt.Sprint(kit.Statuses()) == fmt.Sprint(cli.Statuses())
		if kit.Stderr != cli.Stderr || !same {
			t.Errorf("%s: the kit and the CLI differ\nkit: %s\ncli: %s", tc.name, kit, cli)
		}
	}
}
