// Package debug is the `debug` task: print a message, or a variable's
// value, in the run's output for each host.
package debug

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/tasks"
	"gopkg.in/yaml.v3"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "debug",
		Doc: "Prints a message (msg, a template) or a variable's value (var, shown as YAML) in the run's output for each host, " +
			"secrets masked. It changes nothing (status ok), runs in check mode too, and registers what it printed as msg. " +
			"In check mode, what a step that did not run would have registered is not there: printing it is ok, unknown, saying so.",
		New: func() tasks.Task { return new(Debug) },
	})
}

// Debug is the `debug` task's parameters.
type Debug struct {
	Msg string `yaml:"msg" doc:"the message: a template, rendered with the host's variables"`
	Var string `yaml:"var" doc:"a variable to print, by name, or a path into it (out.stdout, hostvars.web01.address); shown as YAML"`
}

// Validate checks the parameters.
func (d *Debug) Validate() error {
	switch {
	case d.Msg == "" && d.Var == "":
		return errors.New("give msg (a message) or var (a variable's name)")
	case d.Msg != "" && d.Var != "":
		return errors.New("give msg or var, not both")
	case d.Var != "" && !tmpl.ValidName(d.root()):
		return fmt.Errorf("var: %s is not a variable name (letters, digits and _, then .key for a key of it, without {{ }})", decode.Quote(d.Var))
	case strings.HasSuffix(d.Var, ".") || strings.Contains(d.Var, ".."):
		return fmt.Errorf("var: %s has an empty key", decode.Quote(d.Var))
	}
	return nil
}

// ReadsVars is the variable var names.
func (d *Debug) ReadsVars() map[string]string { return map[string]string{"var": d.root()} }

// OutputOnly marks debug as changing nothing.
func (d *Debug) OutputOnly() {}

func (d *Debug) root() string {
	root, _, _ := strings.Cut(d.Var, ".")
	return root
}

// Check says what to print; there is never anything to change.
func (d *Debug) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	text := d.Msg
	if d.Var != "" {
		v, err := d.value(h.Vars)
		if err != nil {
			return nil, err
		}
		// Masked before it is encoded: YAML may quote a secret into other text.
		out, err := yaml.Marshal(map[string]any{d.Var: redacted(reflect.ValueOf(v), h.Redact)})
		if err != nil {
			return nil, fmt.Errorf("var %s: %w", d.Var, err)
		}
		text = strings.TrimSuffix(string(out), "\n")
	}
	return &tasks.Change{Message: text, Result: map[string]any{"msg": text}}, nil
}

// value follows var's path through the variables.
func (d *Debug) value(vars map[string]any) (any, error) {
	keys := strings.Split(d.Var, ".")
	var cur any = vars
	for i, k := range keys {
		m := reflect.ValueOf(cur)
		var next reflect.Value
		if m.Kind() == reflect.Map && m.Type().Key().Kind() == reflect.String {
			next = m.MapIndex(reflect.ValueOf(k).Convert(m.Type().Key()))
		}
		if !next.IsValid() {
			// As a template would say it, so that check mode knows a value
			// an earlier step would have registered.
			return nil, fmt.Errorf("var %s: %w", d.Var, &tmpl.Undefined{Path: "." + strings.Join(keys[:i+1], "."), Key: k})
		}
		cur = next.Interface()
	}
	return cur, nil
}

// redacted copies v with redact applied to every string in it.
func redacted(v reflect.Value, redact func(string) string) any {
	if !v.IsValid() {
		return nil
	}
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return redacted(v.Elem(), redact)
	case reflect.String:
		if redact == nil {
			return v.String()
		}
		return redact(v.String())
	case reflect.Slice, reflect.Array:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = redacted(v.Index(i), redact)
		}
		return out
	case reflect.Map:
		out := make(map[string]any, v.Len())
		for _, k := range v.MapKeys() {
			name := fmt.Sprint(k.Interface())
			if redact != nil {
				name = redact(name)
			}
			out[name] = redacted(v.MapIndex(k), redact)
		}
		return out
	}
	return v.Interface()
}
