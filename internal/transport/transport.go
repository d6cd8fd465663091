// Package transport runs commands and moves files on hosts: over SSH for
// remote hosts, directly for the controller itself.
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
)

// Conn is what a task module gets to act on a host. Every method honours
// ctx: when it is cancelled the call returns promptly and leaves no
// half-written file behind.
type Conn interface {
	// Run runs cmd with sh on the host. A non-zero exit is reported in
	// Result, not as an error; errors mean the command could not be run.
	Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error)
	// WriteFile replaces path atomically with what r yields, streaming
	// it: a temporary file that nobody else can read is written, given
	// attrs through its descriptor, and renamed over path. Nothing but
	// the rename is done to path, so a symlink there is replaced, never
	// followed.
	WriteFile(ctx context.Context, path string, r io.Reader, attrs FileAttrs) error
	// ReadFile copies path to w; a missing file is an fs.ErrNotExist.
	ReadFile(ctx context.Context, path string, w io.Writer) error
}

// Result is what a command did.
type Result struct {
	Stdout []byte
	Stderr []byte
	Code   int
}

// OK reports whether the command exited 0.
func (r Result) OK() bool { return r.Code == 0 }

// Failure describes a failed command with the end of its stderr.
func (r Result) Failure() string {
	msg := fmt.Sprintf("exit status %d", r.Code)
	if tail := lastLines(string(r.Stderr), 5); tail != "" {
		msg += ": " + tail
	} else if tail := lastLines(string(r.Stdout), 5); tail != "" {
		msg += ": " + tail
	}
	return msg
}

// ConnError means the host could not be reached or the connection to it
// was lost: the engine reports the host unreachable.
type ConnError struct {
	Host string
	Err  error
}

func (e *ConnError) Error() string { return fmt.Sprintf("connect to %s: %v", e.Host, e.Err) }
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

func (c *capped) bytes() []byte {
	if c.dropped > 0 {
		return append(c.buf, fmt.Sprintf("\n[runbook: %d more bytes of output dropped]\n", c.dropped)...)
	}
	return c.buf
}

func lastLines(s string, n int) string {
	lines := splitLines(s)
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := ""
	for i, l := range lines {
		if i > 0 {
			out += " | "
		}
		out += l
	}
	return out
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '\n' {
			if line := s[start:i]; line != "" {
				out = append(out, line)
			}
			start = i + 1
		}
	}
	return out
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

// Dialer is implemented by connections that can open TCP connections from
// the host, such as to a service that listens only on the host's loopback
// (SSH port forwarding; directly for the controller).
type Dialer interface {
	DialContext(ctx context.Context, network, addr string) (net.Conn, error)
}
