package output

import (
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/engine"
)

// ErrorEvents are err as error events: one per problem it lists (a
// runbook's every problem is reported at once), each with its file, line
// and column when it has them. redact, when set, hides secrets in the
// messages.
func ErrorEvents(err error, redact func(string) string) []engine.Event {
	errs := []error{err}
	if l, ok := err.(interface{ Unwrap() []error }); ok {
		errs = l.Unwrap()
	}
	if redact == nil {
		redact = func(s string) string { return s }
	}
	now := time.Now()
	out := make([]engine.Event, 0, len(errs))
	for _, e := range errs {
		ev := engine.Event{Type: engine.Error, Time: now, Message: e.Error()}
		// Only an error that is itself at a place: one wrapped in
		// another says more than its place's message.
		if de, ok := e.(*decode.Error); ok {
			ev.File, ev.Line, ev.Col = de.Pos.File, de.Pos.Line, de.Pos.Col
			ev.Message = de.Msg
		}
		ev.Message = redact(ev.Message)
		out = append(out, ev)
	}
	return out
}
