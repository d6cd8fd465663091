package output_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/output"
)

// TestErrorEvents: an event per listed problem; the place of one that is
// at a place, the whole message of one wrapped in another; secrets hidden.
func TestErrorEvents(t *testing.T) {
	var list decode.List
	list.Add(decode.Errorf(decode.Pos{File: "b.yaml", Line: 3, Col: 7}, "bad token hunter2"))
	list.Add(fmt.Errorf("load inventory: %w", decode.Errorf(decode.Pos{File: "inv.yaml", Line: 1}, "no hosts")))
	list.Add(decode.Errorf(decode.Pos{File: "a.yaml", Line: 2, Col: 1}, "unknown key"))
	redact := func(s string) string { return strings.ReplaceAll(s, "hunter2", "********") }
	var got []engine.Event
	for _, ev := range output.ErrorEvents(list.Err(), redact) {
		if ev.Time.IsZero() || ev.Type != engine.Error {
			t.Errorf("%+v: no time or not an error", ev)
		}
		got = append(got, engine.Event{File: ev.File, Line: ev.Line, Col: ev.Col, Message: ev.Message})
	}
	want := []engine.Event{
		{Message: "load inventory: inv.yaml:1: no hosts"},
		{File: "a.yaml", Line: 2, Col: 1, Message: "unknown key"},
		{File: "b.yaml", Line: 3, Col: 7, Message: "bad token ********"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := output.ErrorEvents(fmt.Errorf("read runbook: no such file"), nil); len(got) != 1 || got[0].Message != "read runbook: no such file" {
		t.Errorf("one error: %+v", got)
	}
}
