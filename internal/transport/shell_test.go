package transport_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
)

// connect is a connection to a new sshd of the test's own.
func connect(t *testing.T) transport.Conn {
	t.Helper()
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// The commands of a run share one shell on the host; each must still
// behave as if it had a shell of its own.
func TestSSHShellFraming(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	run := func(cmd string) transport.Result {
		t.Helper()
		res, err := c.Run(ctx, cmd, nil)
		if err != nil {
			t.Fatalf("Run(%q): %v", cmd, err)
		}
		return res
	}
	big := strings.Repeat("0123456789abcdef", 1<<16) // 1 MiB, well past any buffer
	for _, tc := range []struct {
		cmd            string
		stdout, stderr string
		code           int
	}{
		{cmd: "printf abc", stdout: "abc"},
		{cmd: "printf 'abc\\n\\n'", stdout: "abc\n\n"},
		{cmd: "echo out; echo err >&2; exit 7", stdout: "out\n", stderr: "err\n", code: 7},
		{cmd: "printf '\\000\\001\\377'", stdout: "\x00\x01\xff"},
		{cmd: "printf '%s' " + big, stdout: big},
		{cmd: "printf '%s' " + big + " >&2", stderr: big},
		{cmd: "cat", stdout: ""}, // stdin is empty, not the shell's input
		{cmd: "echo one\necho two\n", stdout: "one\ntwo\n"},
		{cmd: "cat <<'X'\nrb-0000\n\nX", stdout: "rb-0000\n\n"},
		{cmd: "exit 3", code: 3},
		{cmd: `echo "[$#$1]"`, stdout: "[0]\n"}, // no positional parameters
		{cmd: "echo 'it'\\''s' \"$(echo '\\')\"", stdout: "it's \\\n"},
	} {
		res := run(tc.cmd)
		if string(res.Stdout) != tc.stdout || string(res.Stderr) != tc.stderr || res.Code != tc.code {
			t.Errorf("Run(%.40q) = %.60q %.60q %d, want %.60q %.60q %d", tc.cmd, res.Stdout, res.Stderr, res.Code, tc.stdout, tc.stderr, tc.code)
		}
	}

	// A command killed by a signal reports it as a shell does.
	if res := run("kill -TERM $(exec sh -c 'echo $PPID')"); res.Code != 143 {
		t.Errorf("a command killed by SIGTERM exited %d, want 143", res.Code)
	}

	// A command cannot change what the next one starts with.
	run("cd /tmp; X=leaked; export Y=leaked; set -e; umask 077")
	if res := run(`pwd; echo "[$X$Y]"; umask`); !strings.HasSuffix(string(res.Stdout), "\n[]\n0022\n") || string(res.Stdout) == "/tmp\n[]\n0022\n" {
		t.Errorf("state leaked from one command to the next: %q", res.Stdout)
	}

	// One shell ran them all: every command's parent is the same process.
	parent := func() string {
		return string(run("read -r s </proc/self/stat; set -- $s; echo $4").Stdout)
	}
	if a, b := parent(), parent(); a != b {
		t.Errorf("commands ran under different shells: %q, %q", a, b)
	}
}

// When the shell is killed under a command, the command fails, and the
// next one gets a new shell.
func TestSSHShellKilled(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	_, err := c.Run(ctx, "read -r s </proc/self/stat; set -- $s; kill -KILL $4; sleep 1", nil)
	if err == nil || transport.IsConnError(err) {
		t.Fatalf("Run = %v, want an error that is not about the connection", err)
	}
	res, err := c.Run(ctx, "echo again", nil)
	if err != nil || string(res.Stdout) != "again\n" {
		t.Fatalf("Run after the shell was killed = %q, %v", res.Stdout, err)
	}
}

// Commands of one host that overlap do not wait for each other.
func TestSSHConcurrentRuns(t *testing.T) {
	c := connect(t)
	var wg sync.WaitGroup
	outs := make([][]byte, 6)
	for i := range outs {
		wg.Go(func() {
			res, err := c.Run(context.Background(), "sleep 0.2; echo "+strings.Repeat("x", i), nil)
			if err != nil {
				t.Error(err)
			}
			outs[i] = res.Stdout
		})
	}
	wg.Wait()
	for i, out := range outs {
		if want := strings.Repeat("x", i) + "\n"; !bytes.Equal(out, []byte(want)) {
			t.Errorf("command %d printed %q, want %q", i, out, want)
		}
	}
}
