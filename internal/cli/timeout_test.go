package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/sshtest"
)

// A host that accepts TCP and never speaks SSH, and one whose sessions
// never answer, are unreachable after the connect timeout; the healthy
// host runs every step and the run ends. The timeout is long enough for a
// login shell on a loaded machine.
func TestSilentHostsDoNotHoldUpTheRun(t *testing.T) {
	up := sshtest.Start(t)
	silent := sshtest.Start(t, sshtest.WithForceCommand("cat >/dev/null"))
	var known []byte
	for _, s := range []*sshtest.Server{up, silent} {
		b, err := os.ReadFile(s.KnownHosts)
		if err != nil {
			t.Fatal(err)
		}
		known = append(known, b...)
	}
	kh := write(t, "known_hosts", string(known))
	inv := write(t, "hosts.yaml", fmt.Sprintf(`
defaults: {address: 127.0.0.1, user: %s}
hosts:
  up: {port: %d, key: %s}
  tarpit: {port: %d, key: %s}
  silent: {port: %d, key: %s}
`, up.User, up.Port, up.KeyFile, sshtest.Tarpit(t), up.KeyFile, silent.Port, silent.KeyFile))
	dir := t.TempDir()
	rb := write(t, "site.yaml", fmt.Sprintf(`
steps:
  - {name: one, hosts: all, task: file, with: {path: "%[1]s/{{ .host.name }}-1", content: x}}
  - {name: two, hosts: all, task: file, with: {path: "%[1]s/{{ .host.name }}-2", content: x}}
`, dir))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"apply", rb, "-i", inv, "--known-hosts", kh, "--connect-timeout", "10s"}, &out, &errOut)
	}()
	var code int
	select {
	case code = <-done:
	case <-time.After(120 * time.Second):
		cancel()
		select {
		case <-done:
			t.Fatalf("the run had not ended after 120s\n%s%s", &out, &errOut)
		case <-time.After(10 * time.Second):
			t.Fatal("the run had not ended after 120s, nor 10s after it was cancelled")
		}
	}
	if code != cli.ExitError {
		t.Errorf("exit %d, want 1 with unreachable hosts\n%s%s", code, &out, &errOut)
	}
	for _, f := range []string{"up-1", "up-2"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s not written: the healthy host should go on\n%s", f, &out)
		}
	}
	for _, want := range []string{"unreachable  tarpit", "unreachable  silent", "2 failed or unreachable"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q\n%s", want, &out)
		}
	}
}

// A step on the controller (hosts: local) that runs past its timeout is
// stopped with everything it started, not only its shell: nothing of it
// is left running once the run has said it failed.
func TestLocalTimeoutStopsWhatTheCommandStarted(t *testing.T) {
	marker := fmt.Sprintf("%d.%d", 700+time.Now().Nanosecond()%100, time.Now().UnixNano()%1e9)
	rb := write(t, "site.yaml", fmt.Sprintf("steps:\n  - {name: slow, hosts: local, task: command, timeout: 1s, with: {cmd: 'sleep %[1]s & sh -c \"sleep %[1]s\" & sleep %[1]s'}}\n", marker))
	t.Cleanup(func() {
		for _, pid := range processesWith(marker) {
			if n, err := strconv.Atoi(pid); err == nil {
				syscall.Kill(n, syscall.SIGKILL)
			}
		}
	})
	type result struct {
		code     int
		out, err string
	}
	done := make(chan result, 1)
	go func() {
		code, out, errOut := runCLI("apply", rb)
		done <- result{code, out, errOut}
	}()
	select {
	case r := <-done:
		if r.code != cli.ExitError || !strings.Contains(r.out, "failed") {
			t.Fatalf("exit %d\n%s%s", r.code, r.out, r.err)
		}
	case <-time.After(time.Minute):
		// What the command started holds its output open: a run that
		// stops only the shell waits for them.
		t.Fatalf("the run did not end a minute after its step's 1s timeout: pids %v still run", processesWith(marker))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := processesWith(marker)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still running after the run ended: pids %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// processesWith lists the processes whose command line holds s.
func processesWith(s string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(cmdline, []byte(s)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}
