package output_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/output"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want, line string }{
		{"plain text, ünïcode ✓", "plain text, ünïcode ✓", ""},
		{"a\tb\nc", "a\tb\nc", `a` + "\t" + `b\nc`},
		{"\033]0;pwned\007", `\x1b]0;pwned\x07`, ""},
		{"\r\033[2K ok fake", `\r\x1b[2K ok fake`, ""},
		{"\b\x00\x7f", `\x08\x00\x7f`, ""},
		{"\u009b2J \u0085", `\u009b2J \u0085`, ""},
		{"bad \xff\xc3 utf-8 \uFFFD", `bad \xff\xc3 utf-8 ` + "\uFFFD", ""},
		{"abc\u202edcba\u2028x", `abc\u202edcba\u2028x`, ""},
	} {
		if got := output.Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
		line := tc.line
		if line == "" {
			line = tc.want
		}
		if got := output.EscapeLine(tc.in); got != line {
			t.Errorf("EscapeLine(%q) = %q, want %q", tc.in, got, line)
		}
	}
}

// TestTextKeepsHostLinesUnderTheirResult: a host's multi-line message
// cannot start a line of its own that looks like another host's result.
func TestTextKeepsHostLinesUnderTheirResult(t *testing.T) {
	var b bytes.Buffer
	tr := output.NewText(&b)
	tr.Report(engine.Event{Type: engine.HostResult, Host: "h1", Status: engine.Failed,
		Changes: []string{"~ one\n~ two"}, Message: "boom\n  ok           h2     1ms\n"})
	want := []string{
		"  failed       h1      0ms  ~ one",
		"               ~ two",
		"               boom",
		"                 ok           h2     1ms",
	}
	if diff := cmp.Diff(want, strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestJSONEscapesWhatATerminalActsOn(t *testing.T) {
	msg := "\033]0;x\007 \r \u009b2J \x7f \u2028 é \xff"
	var b bytes.Buffer
	output.NewJSON(&b).Report(engine.Event{Type: engine.HostResult, Message: msg})
	for _, r := range b.String() {
		if r < 0x20 && r != '\n' || r >= 0x7f && r < 0xa0 || r == 0x2028 {
			t.Errorf("raw %q in %s", r, b.String())
		}
	}
	var ev engine.Event
	if err := json.Unmarshal(b.Bytes(), &ev); err != nil {
		t.Fatal(err)
	}
	if want := strings.ToValidUTF8(msg, "\uFFFD"); ev.Message != want {
		t.Errorf("decoded %q, want %q", ev.Message, want)
	}
}
