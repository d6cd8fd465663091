// Package decodetest holds what tests of YAML loading share: a guard
// against decoding that runs for minutes, and the checks every loading
// error must pass (a position, no echo of the file, no secret).
package decodetest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// Within runs fn and fails the test if it has not returned by the
// deadline, so a regression fails instead of running for minutes. The
// deadline only guards: what a test asserts is fn's result.
func Within(t testing.TB, d time.Duration, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still decoding after %s", d)
	}
}

// CheckErrors asserts that every error of err names its file (and a line,
// when line is set, unless YAML's parser gave none), that no long run of
// data is echoed, and that no value tagged !secret in data is shown.
func CheckErrors(t testing.TB, err error, data []byte, line bool) {
	t.Helper()
	var list *decode.List
	errs := []error{err}
	if errors.As(err, &list) {
		errs = list.Errors()
	}
	for _, e := range errs {
		var pe *decode.Error
		switch {
		case !errors.As(e, &pe) || pe.Pos.File == "":
			t.Errorf("error without a position: %v", e)
		case line && pe.Pos.Line == 0 && !strings.HasPrefix(pe.Msg, "YAML syntax: "):
			t.Errorf("error without a line: %v", e)
		}
	}
	msg := err.Error()
	// Quote shows at most 40 characters of a value, and the words around
	// it may match the key before it: no 64 in a row of a line of the
	// file may appear.
	const run = 64
	shown := map[string]bool{}
	for i := 0; i+run <= len(msg); i++ {
		shown[msg[i:i+run]] = true
	}
	for _, l := range strings.Split(string(data), "\n") {
		for i := 0; i+run <= len(l); i++ {
			if shown[l[i:i+run]] {
				t.Errorf("error echoes %q from the file", l[i:i+run])
				break
			}
		}
	}
	for _, s := range Secrets(data) {
		if strings.Contains(msg, s) {
			t.Errorf("error shows the secret %q", s)
		}
	}
}

// Secrets lists the values tagged !secret in data that are long enough
// to tell apart and written nowhere else in it.
func Secrets(data []byte) []string {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!secret" && len(n.Value) >= 8 && bytes.Count(data, []byte(n.Value)) == 1 {
			out = append(out, n.Value)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return out
}
