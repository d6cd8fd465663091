// Package prompt asks the person running runbook for what must not come
// from a flag, where every local user would read it: passwords.
package prompt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"
)

// maxLine bounds a password read from a pipe.
const maxLine = 4096

// Password asks for a password once, showing label and echoing nothing:
// on stdin when it is a terminal, else on the controlling terminal
// (/dev/tty), so that a pipe on stdin does not stop the question. With
// neither (a job with no terminal, a test), it reads the first line of
// stdin, as sudo -S does. Cancelling ctx (Ctrl-C) gives up the question
// and leaves the terminal as it was.
func Password(ctx context.Context, stdin io.Reader, stderr io.Writer, label string) (string, error) {
	if f, ok := stdin.(*os.File); ok {
		if term.IsTerminal(int(f.Fd())) {
			return ask(ctx, f, stderr, label)
		}
		if tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0); err == nil {
			defer tty.Close()
			if term.IsTerminal(int(tty.Fd())) {
				return ask(ctx, tty, tty, label)
			}
		}
	}
	return readLine(stdin)
}

// ask reads a password from the terminal in without echo.
func ask(ctx context.Context, in *os.File, out io.Writer, label string) (string, error) {
	fd := int(in.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return "", fmt.Errorf("read the password: %w", err)
	}
	fmt.Fprint(out, label)
	type answer struct {
		b   []byte
		err error
	}
	got := make(chan answer, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		got <- answer{b, err}
	}()
	select {
	case a := <-got:
		fmt.Fprintln(out)
		if a.err != nil {
			return "", fmt.Errorf("read the password: %w", a.err)
		}
		return string(a.b), nil
	case <-ctx.Done():
		// The read goes on until the process ends; the terminal echoes
		// again now.
		_ = term.Restore(fd, state)
		fmt.Fprintln(out)
		return "", ctx.Err()
	}
}

// readLine reads stdin up to the first newline, byte by byte: what
// follows is not taken.
func readLine(r io.Reader) (string, error) {
	var line []byte
	b := make([]byte, 1)
	for len(line) <= maxLine {
		n, err := r.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				return strings.TrimSuffix(string(line), "\r"), nil
			}
			line = append(line, b[0])
			continue
		}
		if errors.Is(err, io.EOF) {
			if len(line) == 0 {
				return "", errors.New("no terminal to ask on, and nothing on standard input")
			}
			return string(line), nil
		}
		if err != nil {
			return "", fmt.Errorf("read the password from standard input: %w", err)
		}
	}
	return "", fmt.Errorf("the line on standard input is longer than %d bytes", maxLine)
}
