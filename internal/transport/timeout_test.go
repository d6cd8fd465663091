package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
)

// within runs f and fails the test if it has not returned after limit,
// so that a call that hangs fails the test instead of hanging it. f's ctx
// is cancelled then, to let the call go.
func within[T any](t *testing.T, limit time.Duration, what string, f func(ctx context.Context) T) T {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan T, 1)
	go func() { done <- f(ctx) }()
	select {
	case v := <-done:
		return v
	case <-time.After(limit):
		t.Fatalf("%s has not returned after %s", what, limit)
		panic("unreachable")
	}
}

// A host that accepts TCP and never speaks SSH is unreachable once the
// connect timeout has passed.
func TestHandshakeIsBoundedByTheConnectTimeout(t *testing.T) {
	sshtest.Require(t)
	port := sshtest.Tarpit(t)
	key := sshtest.Start(t).KeyFile
	pool := &transport.Pool{Keys: &transport.HostKeys{}, Timeout: time.Second}
	defer pool.Close()
	err := within(t, 20*time.Second, "Get of a host that never speaks SSH", func(ctx context.Context) error {
		_, err := pool.Get(ctx, transport.Target{Name: "tarpit", Address: "127.0.0.1", Port: port, User: "root", KeyFile: key})
		return err
	})
	if !transport.IsConnError(err) {
		t.Fatalf("Get = %v, want a connection error", err)
	}
	if !strings.Contains(err.Error(), "1s") {
		t.Errorf("the error does not say how long it waited: %v", err)
	}
}

// Cancelling while the handshake waits ends it at once, and a cancelled
// connection is not remembered as unreachable.
func TestHandshakeCancelled(t *testing.T) {
	sshtest.Require(t)
	port := sshtest.Tarpit(t)
	key := sshtest.Start(t).KeyFile
	pool := &transport.Pool{Keys: &transport.HostKeys{}, Timeout: time.Hour}
	defer pool.Close()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	err := within(t, 20*time.Second, "Get cancelled during the handshake", func(context.Context) error {
		_, err := pool.Get(ctx, transport.Target{Name: "tarpit", Address: "127.0.0.1", Port: port, User: "root", KeyFile: key})
		return err
	})
	if !errors.Is(err, context.Canceled) || transport.IsConnError(err) {
		t.Fatalf("Get = %v, want context.Canceled alone", err)
	}
}

// A host whose sessions never run what they are asked to (here every
// session, SFTP's too, runs cat instead) is unreachable: the first command
// or file read does not wait for the host forever.
func TestSessionsThatNeverAnswerAreUnreachable(t *testing.T) {
	s := sshtest.Start(t, sshtest.WithForceCommand("cat >/dev/null"))
	for name, use := range map[string]func(context.Context, transport.Conn) error{
		"command": func(ctx context.Context, c transport.Conn) error {
			_, err := c.Run(ctx, "true", nil)
			return err
		},
		"sftp": func(ctx context.Context, c transport.Conn) error {
			return c.ReadFile(ctx, "/etc/hostname", io.Discard)
		},
	} {
		t.Run(name, func(t *testing.T) {
			pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{s.KnownHosts}}, Timeout: 3 * time.Second}
			t.Cleanup(func() {
				within(t, 10*time.Second, "closing the connection", func(context.Context) error { return pool.Close() })
			})
			c, err := pool.Get(context.Background(), transport.Target{Name: "silent", Address: s.Addr, Port: s.Port, User: s.User, KeyFile: s.KeyFile})
			if err != nil {
				t.Fatal(err)
			}
			err = within(t, 30*time.Second, "the first "+name+" on a host whose sessions never answer", func(ctx context.Context) error {
				return use(ctx, c)
			})
			if !transport.IsConnError(err) {
				t.Fatalf("%s = %v, want a connection error", name, err)
			}
		})
	}
}

// A cancelled command is gone from the host soon after, even when it, or
// what it started, ignores SIGTERM.
func TestCancelKillsWhatIgnoresSIGTERM(t *testing.T) {
	transport.SetKillGrace(t, time.Second)
	s := sshtest.Start(t)
	// A login shell may be slow to start on a loaded machine: no
	// connection is meant to time out here.
	pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{s.KnownHosts}}, Timeout: time.Minute}
	t.Cleanup(func() { pool.Close() })
	c, err := pool.Get(context.Background(), transport.Target{Name: "h1", Address: s.Addr, Port: s.Port, User: s.User, KeyFile: s.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		cmd   string // %s is the marker, a sleep's argument
		stdin bool   // run in a session of its own
	}{
		{name: "command", cmd: "trap '' TERM; sleep %s; true"},
		{name: "child", cmd: `sh -c "trap '' TERM; sleep %s; true" & wait`},
		{name: "session", cmd: "trap '' TERM; sleep %s; true", stdin: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := fmt.Sprintf("600.%09d", rand.IntN(1e9))
			t.Cleanup(func() {
				for _, pid := range withMarker(marker) {
					syscall.Kill(pid, syscall.SIGKILL)
				}
			})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var stdin io.Reader
			if tc.stdin {
				stdin = strings.NewReader("")
			}
			errc := make(chan error, 1)
			go func() {
				_, err := c.Run(ctx, fmt.Sprintf(tc.cmd, marker), stdin)
				errc <- err
			}()
			// Cancelled once the sleep runs, so that the trap is in place.
			for deadline := time.Now().Add(time.Minute); !hasSleep(marker); {
				select {
				case err := <-errc:
					t.Fatalf("Run = %v before it was cancelled", err)
				default:
				}
				if time.Now().After(deadline) {
					t.Fatal("the command's sleep did not start")
				}
				time.Sleep(20 * time.Millisecond)
			}
			cancel()
			err := within(t, 30*time.Second, "the cancelled Run", func(context.Context) error { return <-errc })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Run = %v, want context.Canceled", err)
			}
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
				left := withMarker(marker)
				if len(left) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("processes of the cancelled command still run: %v", left)
				}
			}
		})
	}
	// The connection is still usable.
	res, err := c.Run(context.Background(), "echo ok", nil)
	if err != nil || string(res.Stdout) != "ok\n" {
		t.Fatalf("Run after the kills = %q, %v", res.Stdout, err)
	}
}

func hasSleep(marker string) bool {
	for _, pid := range withMarker(marker) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); string(b) == "sleep\x00"+marker+"\x00" {
			return true
		}
	}
	return false
}

// withMarker lists the live processes whose arguments hold marker.
func withMarker(marker string) []int {
	var pids []int
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil || !bytes.Contains(b, []byte(marker)) {
			continue // a zombie's is empty
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(f))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// A command in a session of its own announces its pid on stderr for a
// cancellation; the command's stderr is still exactly its own.
func TestSessionStderrIsTheCommands(t *testing.T) {
	c := connect(t)
	res, err := c.Run(context.Background(), "cat; echo err >&2; printf tail >&2; exit 4", strings.NewReader("in"))
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Stdout) != "in" || string(res.Stderr) != "err\ntail" || res.Code != 4 {
		t.Errorf("Run = %q %q %d, want %q %q 4", res.Stdout, res.Stderr, res.Code, "in", "err\ntail")
	}
}

// A connection that drops in the middle of a command is reported as lost,
// not as a failure to connect: the operator looks for a host that went
// down or a network that broke, not for wrong credentials.
func TestConnectionLostMidCommand(t *testing.T) {
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	// The shell's parent is sshd's process for this connection.
	_, err = c.Run(context.Background(), "kill -9 $PPID; sleep 10", nil)
	if !transport.IsConnError(err) {
		t.Fatalf("Run while the connection drops: %v, want a connection error", err)
	}
	if msg := err.Error(); !strings.Contains(msg, "connection to h1 lost") || strings.Contains(msg, "connect to") {
		t.Fatalf("error %q: want it to say the connection to h1 was lost", msg)
	}
}
