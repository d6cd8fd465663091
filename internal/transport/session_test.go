package transport

import (
	"bytes"
	"testing"
)

// The announcement is taken out of stderr however the writes split it,
// and what the command writes is passed on whole.
func TestPIDTap(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string // %m is the marker
		stderr string
		pid    int
	}{
		{name: "alone", writes: []string{"%m42\n", "err\n"}, stderr: "err\n", pid: 42},
		{name: "split", writes: []string{"%m", "4", "2\nerr", "\n"}, stderr: "err\n", pid: 42},
		{name: "one write", writes: []string{"%m42\nerr\nmore"}, stderr: "err\nmore", pid: 42},
		{name: "rc noise first", writes: []string{"noise\n", "%m7\n"}, stderr: "noise\n", pid: 7},
		{name: "never announced", writes: []string{"syntax error\n", "no newline"}, stderr: "syntax error\nno newline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			tap := newPIDTap(&out)
			for _, w := range tc.writes {
				p := bytes.ReplaceAll([]byte(w), []byte("%m"), tap.marker)
				if n, err := tap.Write(p); n != len(p) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			tap.flush()
			if out.String() != tc.stderr || tap.pid != tc.pid {
				t.Errorf("stderr %q, pid %d; want %q, %d", out.String(), tap.pid, tc.stderr, tc.pid)
			}
		})
	}
}
