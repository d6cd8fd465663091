package template

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/tasks"
)

// Render reads the template file src on the controller (relative to the
// runbook's directory) and renders it with the host's variables, and its
// facts when it reads them: for other modules that take a template file
// (systemd's src), so that it renders as template's src does.
func Render(ctx context.Context, h *tasks.Host, src string) ([]byte, error) {
	if !filepath.IsAbs(src) {
		src = filepath.Join(h.Dir, src)
	}
	text, err := decode.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("template source: %w", err)
	}
	data := h.Vars
	if strings.Contains(string(text), ".facts") && h.Facts != nil {
		facts, err := h.Facts(ctx)
		if err != nil {
			return nil, err
		}
		data = with(h.Vars, "facts", facts)
	}
	out, err := tmpl.RenderFile(src, string(text), data)
	if err != nil {
		return nil, err
	}
	return []byte(out), nil
}

func with(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for key, val := range m {
		out[key] = val
	}
	out[k] = v
	return out
}
