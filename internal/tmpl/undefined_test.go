package tmpl_test

import (
	"errors"
	"testing"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
)

// An undefined variable, or key of one, is an error whose cause says what
// was read, in values and in template files alike.
func TestUndefinedSaysWhatWasRead(t *testing.T) {
	data := map[string]any{
		"out":      map[string]any{"status": "changed"},
		"hostvars": map[string]any{"h1": map[string]any{"tok": map[string]any{}}},
	}
	for _, c := range []struct {
		text, path, key, root string
	}{
		{"{{ .out.stdout }}", ".out.stdout", "stdout", "out"},
		{"{{ .typo }}", ".typo", "typo", "typo"},
		{"{{ with .out }}{{ .rc }}{{ end }}", ".rc", "rc", "rc"},
		{`{{ (index .hostvars "h1").tok.stdout }}`, `"h1"`, "stdout", ""},
		{"{{ .out.status | upper }}", "", "", ""},
	} {
		for name, render := range map[string]func() error{
			"value": func() error { _, err := tmpl.Render(decode.Pos{File: "f.yaml", Line: 1}, c.text, data); return err },
			"file":  func() error { _, err := tmpl.RenderFile("f.tmpl", c.text, data); return err },
		} {
			err := render()
			var u *tmpl.Undefined
			if got := errors.As(err, &u); got != (c.path != "") {
				t.Errorf("%s %q: %v: Undefined %v", name, c.text, err, got)
				continue
			}
			if u != nil && (u.Path != c.path || u.Key != c.key || u.Root() != c.root) {
				t.Errorf("%s %q: path %q key %q root %q, want %q %q %q", name, c.text, u.Path, u.Key, u.Root(), c.path, c.key, c.root)
			}
		}
	}
}
