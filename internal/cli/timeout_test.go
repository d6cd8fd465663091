package cli_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
