// Package transport runs commands and moves files on hosts: over SSH for
// remote hosts, directly for the controller itself.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/runbookdev/runbook/tasks"
)

// Conn is a connection to a host, as task modules see it (tasks.Conn):
// *SSH for remote hosts, Local for the controller, and Become's view of
// either as another user.
type Conn = tasks.Conn

// Result is what a command did.
type Result = tasks.Result

// FileAttrs is what a file written by WriteFile gets before it is renamed
// into place.
type FileAttrs = tasks.FileAttrs

// FileStat is what Inspect found at a path.
type FileStat = tasks.FileStat

// ConnError means the host could not be reached or the connection to it
// was lost: the engine reports the host unreachable.
type ConnError struct {
	Host string
	Err  error
	// Via names the bastion that failed, when the host is reached
	// through bastions and one of them is what failed: "bastion bast1
	// (10.0.0.1:22)".
	Via string
	// Lost says the connection was made, then lost (the host went down,
	// the network broke, sshd went away), rather than never made.
	Lost bool
}

func (e *ConnError) Error() string {
	if e.Lost {
		return fmt.Sprintf("connection to %s lost: %v", e.Host, e.Err)
	}
	if e.Via != "" {
		return fmt.Sprintf("connect to %s via %s: %v", e.Host, e.Via, e.Err)
	}
	return fmt.Sprintf("connect to %s: %v", e.Host, e.Err)
}
func (e *ConnError) Unwrap() error { return e.Err }

// IsConnError reports whether err means the host is unreachable.
func IsConnError(err error) bool {
	var ce *ConnError
	return errors.As(err, &ce)
}

// maxOutput bounds how much of a command's stdout and stderr is kept.
const maxOutput = 4 << 20

// capped keeps the first maxOutput bytes written to it and counts the rest.
type capped struct {
	buf     []byte
	dropped int64
}

func (c *capped) Write(p []byte) (int, error) {
	room := maxOutput - len(c.buf)
	if room >= len(p) {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	if room > 0 {
		c.buf = append(c.buf, p[:room]...)
	}
	c.dropped += int64(len(p) - max(room, 0))
	return len(p), nil
}

// truncated reports whether output was dropped.
func (c *capped) truncated() bool { return c.dropped > 0 }

func (c *capped) bytes() []byte {
	if c.dropped > 0 {
		return append(c.buf, fmt.Sprintf("\n[runbook: %d more bytes of output dropped]\n", c.dropped)...)
	}
	return c.buf
}

// ctxReader stops a copy when ctx is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
