package wait

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"strconv"
	"time"

	"github.com/runbookdev/runbook/tasks"
)

// bannerWait is how long a port has to send what search_regex looks for,
// and bannerMax how much of it is read.
const (
	bannerWait = 2 * time.Second
	bannerMax  = 4096
)

var errMatched = errors.New("matched: read no further")

// fileMatches reports whether the file at path holds a match for
// search_regex, streaming it from the host: a log that grows large is
// read only as far as the first match. A file not there yet is no match.
func (w *Wait) fileMatches(ctx context.Context, h *tasks.Host) (bool, string, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	read := make(chan error, 1)
	go func() {
		err := h.Conn.ReadFile(ctx, w.Path, pw)
		pw.CloseWithError(err)
		read <- err
	}()
	matched := w.re.MatchReader(bufio.NewReader(pr))
	pr.CloseWithError(errMatched) // the reader stops at once, if not done
	err := <-read
	switch {
	case matched:
		return true, "", nil
	case errors.Is(err, fs.ErrNotExist):
		return false, ": " + w.Path + " does not exist", nil
	case err != nil:
		return false, "", fmt.Errorf("read %s on %s: %w", w.Path, h.Name, err)
	}
	return false, "", nil
}

// bannerMatches connects to the port from the host and reports whether
// what it sends within bannerWait matches search_regex. A port that is
// not open yet is no match.
func (w *Wait) bannerMatches(ctx context.Context, h *tasks.Host) (bool, string, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, bannerWait)
	defer cancel()
	addr := net.JoinHostPort(w.address(), strconv.Itoa(w.Port))
	c, err := h.Conn.DialContext(ctx, "tcp", addr)
	if err != nil {
		if parent.Err() != nil {
			return false, "", err
		}
		// Refused, or not answering yet: not open, so no match.
		return false, ": " + err.Error(), nil
	}
	// A connection through SSH has no read deadline: closing it ends a
	// read that waits too long.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	defer c.Close()
	var banner []byte
	buf := make([]byte, 512)
	for len(banner) < bannerMax {
		n, err := c.Read(buf)
		banner = append(banner, buf[:n]...)
		if w.re.Match(banner) {
			return true, "", nil
		}
		if err != nil {
			break
		}
	}
	if len(banner) == 0 {
		return false, ": the port sent nothing", nil
	}
	return false, fmt.Sprintf(": the port sent %q", truncate(banner, 80)), nil
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}
