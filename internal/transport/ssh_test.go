package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
)

func dial(t *testing.T, s *sshtest.Server, keys *transport.HostKeys) (*transport.Pool, transport.Conn, error) {
	t.Helper()
	pool := &transport.Pool{Keys: keys, Timeout: 30 * time.Second}
	t.Cleanup(func() { pool.Close() })
	c, err := pool.Get(context.Background(), transport.Target{Name: "h1", Address: s.Addr, Port: s.Port, User: s.User, KeyFile: s.KeyFile})
	return pool, c, err
}

func TestSSHRunAndFiles(t *testing.T) {
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	res, err := c.Run(ctx, "echo out; echo err >&2; exit 3", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(res.Stdout); got != "out\n" || string(res.Stderr) != "err\n" || res.Code != 3 {
		t.Fatalf("Run = %q %q %d", got, res.Stderr, res.Code)
	}
	res, err = c.Run(ctx, "tr a-z A-Z", strings.NewReader("piped"))
	if err != nil || string(res.Stdout) != "PIPED" {
		t.Fatalf("stdin: %q, %v", res.Stdout, err)
	}

	p := filepath.Join(t.TempDir(), "f.txt")
	if err := c.WriteFile(ctx, p, strings.NewReader("one"), transport.Attrs(0o640)); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteFile(ctx, p, strings.NewReader("two"), transport.Attrs(0o600)); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	var buf bytes.Buffer
	if err := c.ReadFile(ctx, p, &buf); err != nil || buf.String() != "two" {
		t.Fatalf("ReadFile = %q, %v", buf.String(), err)
	}
	if err := c.ReadFile(ctx, p+".missing", &buf); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadFile of a missing file = %v, want fs.ErrNotExist", err)
	}
	assertNoTemp(t, filepath.Dir(p))
}

func TestSSHWriteCancelledLeavesNothing(t *testing.T) {
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "big")
	if err := os.WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &cancelAfter{n: 1 << 20, cancel: cancel}
	if err := c.WriteFile(ctx, p, r, transport.Attrs(0o644)); err == nil {
		t.Fatal("WriteFile succeeded after cancellation")
	}
	if got, _ := os.ReadFile(p); string(got) != "old" {
		t.Errorf("file = %q after a cancelled write, want the old content", got)
	}
	assertNoTemp(t, dir)
}

// cancelAfter yields n bytes then cancels, as Ctrl-C in mid-upload.
type cancelAfter struct {
	n      int
	cancel func()
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	if c.n <= 0 {
		c.cancel()
		return len(p), nil // keeps going until ctx is noticed
	}
	n := min(len(p), c.n)
	c.n -= n
	return n, nil
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".runbook-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestSSHCancelStopsCommand(t *testing.T) {
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "done")
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(300 * time.Millisecond); cancel() }()
	_, err = c.Run(ctx, "sleep 31.5; touch "+marker, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	// What the command started is stopped, and the rest of it never runs.
	for deadline := time.Now().Add(5 * time.Second); sleeping("31.5"); {
		if time.Now().After(deadline) {
			t.Fatal("the cancelled command's sleep is still running")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the cancelled command went on to its end")
	}
	// The connection is still usable after a cancelled command.
	res, err := c.Run(context.Background(), "true", nil)
	if err != nil || !res.OK() {
		t.Fatalf("Run after cancel = %v %v", res, err)
	}
}

// sleeping reports whether a `sleep arg` process runs on this machine.
func sleeping(arg string) bool {
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		if b, err := os.ReadFile(f); err == nil && string(b) == "sleep\x00"+arg+"\x00" {
			return true
		}
	}
	return false
}

func TestHostKeyUnknownIsRefused(t *testing.T) {
	s := sshtest.Start(t)
	kh := filepath.Join(t.TempDir(), "known_hosts")
	_, _, err := dial(t, s, &transport.HostKeys{Files: []string{kh}})
	var hk *transport.HostKeyError
	if !errors.As(err, &hk) || hk.Changed {
		t.Fatalf("dial = %v, want an unknown-host-key error", err)
	}
	if !transport.IsConnError(err) {
		t.Errorf("a refused key should make the host unreachable: %v", err)
	}
	if !strings.Contains(err.Error(), "--accept-new-host-keys") {
		t.Errorf("message does not say how to accept the key: %v", err)
	}
	if _, err := os.Stat(kh); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("known_hosts was written without --accept-new-host-keys")
	}
}

func TestHostKeyAcceptNewRecordsIt(t *testing.T) {
	s := sshtest.Start(t)
	kh := filepath.Join(t.TempDir(), "ssh", "known_hosts")
	if _, _, err := dial(t, s, &transport.HostKeys{Files: []string{kh}, AcceptNew: true}); err != nil {
		t.Fatal(err)
	}
	// Recorded: a strict connection now succeeds.
	if _, _, err := dial(t, s, &transport.HostKeys{Files: []string{kh}}); err != nil {
		t.Fatalf("after trust on first use: %v", err)
	}
}

func TestHostKeyChangedIsAlwaysRefused(t *testing.T) {
	a := sshtest.Start(t)
	b := sshtest.Start(t)
	// known_hosts says b's address has a's key: b's real key is "changed".
	kh := filepath.Join(t.TempDir(), "known_hosts")
	line, err := os.ReadFile(a.KnownHosts)
	if err != nil {
		t.Fatal(err)
	}
	line = bytes.Replace(line, []byte(fmt.Sprintf("]:%d ", a.Port)), []byte(fmt.Sprintf("]:%d ", b.Port)), 1)
	if !bytes.Contains(line, []byte(fmt.Sprint(b.Port))) {
		t.Fatalf("could not rewrite %q", line)
	}
	if err := os.WriteFile(kh, line, 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = dial(t, b, &transport.HostKeys{Files: []string{kh}, AcceptNew: true})
	var hk *transport.HostKeyError
	if !errors.As(err, &hk) || !hk.Changed {
		t.Fatalf("dial = %v, want a changed-host-key error even with AcceptNew", err)
	}
	if !strings.Contains(err.Error(), "ssh-keygen -R") {
		t.Errorf("message does not say how to remove the old key: %v", err)
	}
}

func TestUnreachable(t *testing.T) {
	sshtest.Require(t)
	port := sshtest.FreePort(t)
	pool := &transport.Pool{Keys: &transport.HostKeys{}, Timeout: 2 * time.Second}
	defer pool.Close()
	key := filepath.Join(sshtest.Start(t).KeyFile)
	_, err := pool.Get(context.Background(), transport.Target{Name: "gone", Address: "127.0.0.1", Port: port, User: "root", KeyFile: key})
	if !transport.IsConnError(err) {
		t.Fatalf("Get = %v, want a connection error", err)
	}
	// The failure is remembered for the run: no second attempt.
	_, err2 := pool.Get(context.Background(), transport.Target{Name: "gone", Address: "127.0.0.1", Port: port, User: "root", KeyFile: key})
	if err2 != err {
		t.Errorf("second Get = %v, want the same error", err2)
	}
	if pool.Opened() != 0 {
		t.Errorf("Opened = %d", pool.Opened())
	}
}

func TestOneConnectionPerHost(t *testing.T) {
	s := sshtest.Start(t)
	pool, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		c2, err := pool.Get(context.Background(), transport.Target{Name: "h1", Address: s.Addr, Port: s.Port, User: s.User, KeyFile: s.KeyFile})
		if err != nil || c2 != c {
			t.Fatalf("Get returned a different connection: %v", err)
		}
	}
	if pool.Opened() != 1 {
		t.Errorf("Opened = %d, want 1", pool.Opened())
	}
}

// A host without an sftp-server program is inspected and read through
// sshd's SFTP subsystem, or with commands without one, and a file cannot
// be written to it: the error says why, and the host is not taken for
// unreachable.
func TestNoSFTPServerProgram(t *testing.T) {
	defer transport.SetSFTPServers([]string{"/nonexistent/sftp-server"})()
	for _, opts := range [][]sshtest.Option{nil, {sshtest.WithoutSFTP}} {
		s := sshtest.Start(t, opts...)
		_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		p := filepath.Join(t.TempDir(), "f")
		os.WriteFile(p, []byte("x"), 0o600)
		_, err = c.Inspect(ctx, p, false)
		if sub := len(opts) == 0; sub != (err == nil) || !sub && !errors.Is(err, transport.ErrCannotInspect) {
			t.Errorf("subsystem %v: Inspect = %v", sub, err)
		}
		err = c.WriteFile(ctx, p, strings.NewReader("y"), transport.Attrs(0o600))
		if err == nil || transport.IsConnError(err) || !strings.Contains(err.Error(), "no OpenSSH sftp-server program") {
			t.Fatalf("WriteFile = %v, want an error about sftp-server", err)
		}
		if got, _ := os.ReadFile(p); string(got) != "x" {
			t.Fatalf("file = %q", got)
		}
	}
}
