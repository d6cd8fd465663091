package prompt_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/prompt"
	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal: the side a person types on, and
// the side a program reads.
func openPTY(t *testing.T) (typist, program *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("SKIPPED: no pseudo-terminals here: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(); s.Close() })
	return m, s
}

// echoing reports whether the terminal echoes what is typed.
func echoing(t *testing.T, f *os.File) bool {
	st, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	return st.Lflag&unix.ECHO != 0
}

func waitEcho(t *testing.T, f *os.File, on bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); echoing(t, f) != on; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the terminal's echo is not %v", on)
		}
	}
}

type result struct {
	pw  string
	err error
}

// On a terminal, the password is asked for once and not echoed.
func TestPasswordOnTerminal(t *testing.T) {
	typist, program := openPTY(t)
	var stderr bytes.Buffer
	got := make(chan result, 1)
	go func() {
		pw, err := prompt.Password(context.Background(), program, &stderr, "BECOME password: ")
		got <- result{pw, err}
	}()
	waitEcho(t, program, false)
	if _, err := typist.WriteString("s3cret-pw\n"); err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil || r.pw != "s3cret-pw" {
		t.Fatalf("Password = %q, %v", r.pw, r.err)
	}
	if !echoing(t, program) {
		t.Error("the terminal does not echo any more")
	}
	program.Close()
	shown := make([]byte, 4096)
	typist.SetReadDeadline(time.Now().Add(time.Second))
	n, _ := typist.Read(shown)
	if strings.Contains(string(shown[:n]), "s3cret") {
		t.Errorf("the terminal showed the password: %q", shown[:n])
	}
	if stderr.String() != "BECOME password: \n" {
		t.Errorf("prompt = %q", stderr.String())
	}
}

// Ctrl-C while asking gives up, and the terminal echoes again.
func TestPasswordCancelled(t *testing.T) {
	_, program := openPTY(t)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan result, 1)
	go func() {
		pw, err := prompt.Password(ctx, program, &bytes.Buffer{}, "BECOME password: ")
		got <- result{pw, err}
	}()
	waitEcho(t, program, false)
	cancel()
	if r := <-got; !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Password = %q, %v; want it cancelled", r.pw, r.err)
	}
	if !echoing(t, program) {
		t.Error("the terminal was left without echo")
	}
}

// Without a terminal, the first line of stdin, and nothing more.
func TestPasswordFromPipe(t *testing.T) {
	in := strings.NewReader("pw from pipe\r\nnext line\n")
	pw, err := prompt.Password(context.Background(), in, &bytes.Buffer{}, "BECOME password: ")
	if err != nil || pw != "pw from pipe" {
		t.Fatalf("Password = %q, %v", pw, err)
	}
	if in.Len() != len("next line\n") {
		t.Errorf("read %d bytes past the line", len("next line\n")-in.Len())
	}
	if _, err := prompt.Password(context.Background(), strings.NewReader(""), &bytes.Buffer{}, "x"); err == nil {
		t.Error("no error for an empty stdin")
	}
}
