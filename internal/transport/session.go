package transport

import (
	"bytes"
	"io"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
)

// pidTap learns the pid of a session's command, which a cancellation
// needs (sshd passes no signals for root logins, and for others only to
// the process group): the command first prints it on stderr after a
// nonce, and the tap passes the rest of stderr on to w.
type pidTap struct {
	w      io.Writer
	marker []byte // nonce and a space
	line   []byte // stderr not yet passed on, while the pid is unknown
	pid    int
	found  chan struct{} // closed when pid is set
}

func newPIDTap(w io.Writer) *pidTap {
	return &pidTap{w: w, marker: []byte(nonce() + " "), found: make(chan struct{})}
}

// wrap returns cmd preceded by the announcement.
func (t *pidTap) wrap(cmd string) string {
	return "echo " + string(t.marker) + "$$ >&2; " + cmd
}

func (t *pidTap) Write(p []byte) (int, error) {
	n := len(p)
	for t.pid == 0 && len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.line = append(t.line, p...)
			return n, nil
		}
		t.line, p = append(t.line, p[:i+1]...), p[i+1:]
		if j := bytes.Index(t.line, t.marker); j >= 0 {
			if pid, err := strconv.Atoi(string(bytes.TrimSpace(t.line[j+len(t.marker):]))); err == nil && pid > 0 {
				t.pid = pid
				close(t.found)
				t.line = t.line[:j]
			}
		}
		if len(t.line) > 0 {
			_, _ = t.w.Write(t.line)
		}
		t.line = t.line[:0]
	}
	if len(p) > 0 {
		_, _ = t.w.Write(p)
	}
	return n, nil
}

// flush passes on what is held back: the end of stderr when the command
// ended before it could announce itself.
func (t *pidTap) flush() {
	if len(t.line) > 0 {
		_, _ = t.w.Write(t.line)
		t.line = nil
	}
}

// stopSession ends a cancelled session's command and what it started, and
// closes the session. done yields when the session ends.
func stopSession(client *ssh.Client, sess *ssh.Session, t *pidTap, done <-chan error) {
	defer sess.Close()
	select {
	case <-t.found:
		killTree(client, t.pid)
	case <-done:
	case <-time.After(killGrace + 5*time.Second):
		// The login shell never got to the command.
	}
}
