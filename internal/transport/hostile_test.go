package transport_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
)

// With become, a cancelled upload (Ctrl-C, a step's timeout) leaves the
// destination as it was: runbook once moved the truncated temporary file
// over it.
func TestBecomeWriteCancelledLeavesDestination(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(hostile.Dir(t), "app")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, dir)
	p := filepath.Join(dir, "big")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	as := transport.Become(c, transport.Escalation{User: hostile.User})
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		r := &cancelAfter{n: 4 << 20, cancel: cancel}
		attrs := transport.Attrs(0o644)
		attrs.Size = 64 << 20
		if err := as.WriteFile(ctx, p, io.LimitReader(r, attrs.Size), attrs); err == nil {
			t.Fatal("WriteFile succeeded after cancellation")
		}
		// Whatever runs on the host after the cancellation has had time
		// to run when the destination has kept its content for a while.
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
			if got, _ := os.ReadFile(p); string(got) != "old" {
				t.Fatalf("destination holds %d bytes after a cancelled write, want the old content", len(got))
			}
		}
	}
	assertNoTemp(t, dir)
	// And a write that goes through is whole and the user's.
	if err := as.WriteFile(context.Background(), p, strings.NewReader("new"), transport.Attrs(0o640)); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if got, _ := os.ReadFile(p); err != nil || string(got) != "new" || st.Mode().Perm() != 0o640 {
		t.Fatalf("after a write as %s: %q %v %v", hostile.User, got, st.Mode(), err)
	}
}

// A writer killed in mid-upload (kill -9, a lost connection) leaves its
// temporary file; the next write to that path removes it.
func TestStaleTemporaryFilesAreRemoved(t *testing.T) {
	s := sshtest.Start(t)
	pool, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "big")
	started, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- c.WriteFile(context.Background(), p, &stallAfter{n: 1 << 20, stalled: started, release: release}, transport.Attrs(0o644))
	}()
	<-started
	for deadline := time.Now().Add(5 * time.Second); len(temps(dir)) == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no temporary file appeared")
		}
	}
	pool.Close() // the connection goes, as with kill -9 of runbook
	close(release)
	<-done
	left := temps(dir)
	if len(left) != 1 {
		t.Fatalf("temporary files of the killed writer: %v, want one", left)
	}
	// Its sftp-server ends once sshd sees the connection gone, which
	// takes a while on a loaded machine: wait for that rather than guess.
	pid, _, _ := strings.Cut(strings.TrimPrefix(left[0], ".runbook-"), "-")
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if _, err := os.Stat("/proc/" + pid); err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the killed writer's sftp-server (pid %s) still runs after 30 s", pid)
		}
	}
	if len(temps(dir)) == 0 {
		t.Fatal("the killed writer's temporary file is gone already; the test shows nothing")
	}
	_, c2, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.WriteFile(context.Background(), p, strings.NewReader("whole"), transport.Attrs(0o644)); err != nil {
		t.Fatal(err)
	}
	// A temporary file of another path is not this write's business.
	other := filepath.Join(dir, ".runbook-1-0123456789ab-other")
	os.WriteFile(other, nil, 0o600)
	if got := temps(dir); len(got) != 1 || got[0] != filepath.Base(other) {
		t.Fatalf("temporary files after the next write: %v", got)
	}
}

func temps(dir string) []string {
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".runbook-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// stallAfter yields n bytes, then says so and blocks until released.
type stallAfter struct {
	n                int
	stalled, release chan struct{}
}

func (s *stallAfter) Read(p []byte) (int, error) {
	if s.n <= 0 {
		close(s.stalled)
		<-s.release
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), s.n)
	s.n -= n
	return n, nil
}

// A command's text (holding rendered secrets) is in no process's argv on
// the host, where every local user can read it in ps: neither for a
// command with stdin, nor through sudo.
func TestCommandNotInArgv(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	loot := filepath.Join(hostile.Dir(t), "loot")
	if err := os.Mkdir(loot, 0o755); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, loot)
	// The pattern does not match its own grep's argv.
	hostile.Start(t, fmt.Sprintf(`while :; do
  grep -a -o -e 'hunter2-[S]ECRET-[0-9]*' /proc/[0-9]*/cmdline >>%s/found 2>/dev/null
done`, loot))
	ctx := context.Background()
	as := transport.Become(c, transport.Escalation{User: hostile.User})
	runs := []struct {
		name  string
		conn  transport.Conn
		stdin io.Reader
	}{
		{"with stdin", c, strings.NewReader("input")},
		{"through sudo", as, nil},
		{"through sudo with stdin", as, strings.NewReader("input")},
		{"in the shell", c, nil},
	}
	for i, r := range runs {
		res, err := r.conn.Run(ctx, fmt.Sprintf("x=hunter2-SECRET-%d; sleep 0.7; echo ok; cat >/dev/null", i), r.stdin)
		if err != nil || !res.OK() || string(res.Stdout) != "ok\n" {
			t.Fatalf("%s: %q %v %v", r.name, res.Stdout, res.Failure(), err)
		}
	}
	if found, _ := os.ReadFile(filepath.Join(loot, "found")); len(found) > 0 {
		t.Fatalf("another local user read the command in argv: %s", found)
	}
}

// A file server that dies (the OOM killer, an admin's pkill) is started
// anew: the host's later writes go through; they all failed with
// "connection lost" for the rest of the run. A write that finds it dead
// goes through another.
func TestWriteAfterTheFileServerDied(t *testing.T) {
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// Half the time the next write comes before the server's end is
	// seen: its first request fails, and it goes through a new one.
	for i := range 6 {
		p := filepath.Join(dir, fmt.Sprint("f", i))
		if err := c.WriteFile(context.Background(), p, strings.NewReader("x"), transport.Attrs(0o644)); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		pids := s.Processes(t, "sftp-server")
		if len(pids) != 1 {
			t.Fatalf("after write %d: %d sftp-servers below sshd, want 1", i, len(pids))
		}
		syscall.Kill(pids[0], syscall.SIGKILL)
		if i%2 == 1 {
			continue
		}
		for deadline := time.Now().Add(10 * time.Second); len(s.Processes(t, "sftp-server")) > 0; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the killed sftp-server is still there")
			}
		}
	}
	// The last one was killed without waiting: a write finds it dead,
	// and what follows uses the new one.
	if err := c.WriteFile(context.Background(), filepath.Join(dir, "last"), strings.NewReader("x"), transport.Attrs(0o644)); err != nil {
		t.Fatalf("write after the last kill: %v", err)
	}
	if _, err := c.Inspect(context.Background(), filepath.Join(dir, "f0"), false); err != nil {
		t.Errorf("inspect after the server died: %v", err)
	}
}
