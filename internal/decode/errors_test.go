package decode_test

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// An Error made from another error wraps it: callers may ask what the
// cause was (a missing file, say) without reading the message.
func TestErrorWrapsItsCause(t *testing.T) {
	cause := &fs.PathError{Op: "open", Path: "x.yaml", Err: fs.ErrNotExist}
	pos := decode.Pos{File: "site.yaml", Line: 3, Col: 5}
	err := decode.Errorf(pos, "import: %w", cause)
	if got, want := err.Error(), "site.yaml:3:5: import: open x.yaml: file does not exist"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe != cause {
		t.Errorf("errors.As(%v, *fs.PathError) did not find the cause", err)
	}
	var list decode.List
	list.Add(err)
	if !errors.Is(list.Err(), fs.ErrNotExist) {
		t.Errorf("errors.Is(a List holding %v, fs.ErrNotExist) = false", err)
	}
	if plain := decode.Errorf(pos, "import: %v", cause); errors.Is(plain, fs.ErrNotExist) {
		t.Errorf("%%v keeps no cause, but errors.Is(%v, fs.ErrNotExist) = true", plain)
	}
}

var errRefused = errors.New("refused")

type refusing struct{ pos bool }

func (r *refusing) UnmarshalYAML(*yaml.Node) error {
	if r.pos {
		return decode.Errorf(decode.Pos{}, "odd value: %w", errRefused)
	}
	return fmt.Errorf("odd value: %w", errRefused)
}

// What a field's own UnmarshalYAML says is placed in the file and keeps
// its cause, whether or not it was a decode.Error.
func TestFieldErrorKeepsItsCause(t *testing.T) {
	for _, pos := range []bool{false, true} {
		var p struct {
			Field *refusing `yaml:"field"`
		}
		p.Field = &refusing{pos: pos}
		err := decode.Node("f.yaml", node(t, "field: x"), &p, decode.Options{})
		if err == nil || !strings.Contains(err.Error(), "f.yaml:1:8: odd value: refused") || !errors.Is(err, errRefused) {
			t.Errorf("decode.Error from UnmarshalYAML: %t: err = %v; want f.yaml:1:8 and errors.Is(err, errRefused)", pos, err)
		}
	}
}
