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
	data := map[string]any{"out": map[string]any{"status": "changed"}}
	for _, c := range []struct {
		text, path, root string
	}{
		{"{{ .out.stdout }}", ".out.stdout", "out"},
		{"{{ .typo }}", ".typo", "typo"},
		{"{{ with .out }}{{ .rc }}{{ end }}", ".rc", "rc"},
		{"{{ .out.status | upper }}", "", ""},
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
			if u != nil && (u.Path != c.path || u.Root() != c.root) {
				t.Errorf("%s %q: path %q root %q, want %q %q", name, c.text, u.Path, u.Root(), c.path, c.root)
			}
		}
	}
}
