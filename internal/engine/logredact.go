package engine

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/runbookdev/runbook/internal/secret"
)

// redactHandler hides secrets in diagnostics (-v), which modules and the
// engine write with whatever they hold: a panic's value, an error quoting
// a rendered command.
type redactHandler struct {
	h       slog.Handler
	secrets *secret.Set
}

func (r redactHandler) Enabled(ctx context.Context, l slog.Level) bool { return r.h.Enabled(ctx, l) }

func (r redactHandler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, r.secrets.Redact(rec.Message), rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(r.attr(a))
		return true
	})
	return r.h.Handle(ctx, out)
}

// WithAttrs redacts attrs now: they are known when the logger is made.
func (r redactHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	for i, a := range attrs {
		attrs[i] = r.attr(a)
	}
	return redactHandler{r.h.WithAttrs(attrs), r.secrets}
}

func (r redactHandler) WithGroup(name string) slog.Handler {
	return redactHandler{r.h.WithGroup(name), r.secrets}
}

func (r redactHandler) attr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, r.secrets.Redact(v.String()))
	case slog.KindAny:
		return slog.String(a.Key, r.secrets.Redact(fmt.Sprint(v.Any())))
	case slog.KindGroup:
		g := v.Group()
		out := make([]any, len(g))
		for i, ga := range g {
			out[i] = r.attr(ga)
		}
		return slog.Group(a.Key, out...)
	}
	return slog.Attr{Key: a.Key, Value: v}
}
