package tmpl

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"text/template/parse"

	"github.com/runbookdev/runbook/internal/secret"
)

// trackerKey is where a Tracker travels in template data: every rendering
// with the data (a step's parameters, its conditions, a template file a
// module renders) finds it there. It is not a name a template can use.
const trackerKey = "\x00secrets"

// Taint carries a set of secrets through templates. Masking only a
// secret's own text is not enough: `upper`, `quote`, `toJSON` and the rest
// make new strings from it, and `slice`, `if` or a range over its letters
// make text that holds none of it. With Taint, a function given a secret
// gives a secret, a rendering that reads a secret gives one as a whole
// (see readsSecret), each added to the set, and a variable tagged !secret
// is added to it once rendered. A run has one; each rendering context (a
// step on a host) has its own Tracker.
type Taint struct {
	set   *secret.Set
	once  sync.Once
	funcs template.FuncMap
	src   SecretSource // for the secret function; see UseSecrets

	pendingMu sync.Mutex
	pending   []string // check mode's placeholders of secrets not made yet
}

// notePending remembers a placeholder a check-mode rendering gave for a
// secret not made yet (see PendingIn).
func (t *Taint) notePending(placeholder string) {
	t.pendingMu.Lock()
	defer t.pendingMu.Unlock()
	if !slices.Contains(t.pending, placeholder) {
		t.pending = append(t.pending, placeholder)
	}
}

// PendingIn returns the first placeholder of a secret not made yet (check
// mode) that s holds, or "". What holds one is no value a module can
// judge: the step is unknown until a real run makes the secret.
func (t *Taint) PendingIn(s string) string {
	t.pendingMu.Lock()
	defer t.pendingMu.Unlock()
	for _, p := range t.pending {
		if strings.Contains(s, p) {
			return p
		}
	}
	return ""
}

// NewTaint returns a Taint that adds to set.
func NewTaint(set *secret.Set) *Taint { return &Taint{set: set} }

// Tracker is a Taint at work in one set of template data; it notes whether
// anything rendered with the data held a secret.
type Tracker struct {
	*Taint
	held atomic.Bool
}

// Track makes renderings with data carry the Taint's secrets, and returns
// the Tracker it put in data, replacing any earlier one.
func (t *Taint) Track(data map[string]any) *Tracker {
	tr := &Tracker{Taint: t}
	data[trackerKey] = tr
	return tr
}

// Held reports whether a rendering with the Tracker's data read a secret
// or gave text that holds one, or Hold was called.
func (t *Tracker) Held() bool { return t != nil && t.held.Load() }

// Hold notes that what the Tracker's renderings are for holds a secret
// that came by no template, such as a parameter tagged !secret.
func (t *Tracker) Hold() {
	if t != nil {
		t.held.Store(true)
	}
}

// String keeps the secrets out of a template that prints its whole data.
func (t *Tracker) String() string { return "(secrets)" }

func trackerOf(data map[string]any) *Tracker {
	t, _ := data[trackerKey].(*Tracker)
	return t
}

// saw notes a rendering's output.
func (t *Tracker) saw(out string) {
	if t != nil && t.set.Holds(out) {
		t.held.Store(true)
	}
}

// rendered notes the output of tree rendered with data: when the
// rendering read a secret, all of what it gave is secret. took: a
// function gave the rendering a secret (see renderFuncs). hold: see
// render.
func (t *Tracker) rendered(tree *parse.Tree, data map[string]any, out any, hold, took bool) {
	if t == nil {
		return
	}
	if t.readsSecret(tree, data, took) {
		t.set.AddDerived(out)
		if hold {
			t.held.Store(true)
		}
		return
	}
	if hold {
		t.saw(fmt.Sprint(out))
	}
}

// addSecret adds a !secret variable's rendered value.
func (t *Tracker) addSecret(v any) {
	if t != nil {
		t.set.Add(v)
	}
}

// derived are text/template's builtins that make strings, here so that
// they can be wrapped like runbook's own; they do what the builtins do.
var derived = template.FuncMap{
	"print":    fmt.Sprint,
	"println":  fmt.Sprintln,
	"html":     template.HTMLEscaper,
	"js":       template.JSEscaper,
	"urlquery": template.URLQueryEscaper,
}

// funcMap is the template functions, each wrapped so that what it makes
// from a secret is secret too.
func (t *Tracker) funcMap() template.FuncMap {
	if t == nil {
		return funcs
	}
	return t.Taint.funcMap()
}

func (t *Taint) funcMap() template.FuncMap {
	t.once.Do(func() {
		t.funcs = template.FuncMap{}
		for _, m := range []template.FuncMap{funcs, derived} {
			for name, fn := range m {
				t.funcs[name] = t.wrap(fn)
			}
		}
		if t.src != nil {
			t.funcs["secret"] = t.secretFunc()
			t.funcs["retired"] = t.retiredFunc()
			for name, fn := range t.tlsFuncs() {
				t.funcs[name] = fn
			}
		}
		for name, mk := range runFuncs {
			t.funcs[name] = mk(t)
		}
	})
	return t.funcs
}

// secretMakers are the functions whose value is a secret of the run.
var secretMakers = map[string]bool{"secret": true, "retired": true, "vault": true, "tls_key": true}

// renderFuncs is the function map for one rendering: the Tracker's, with
// the functions that make secrets noting in *took that one gave one.
// Wrapping each function does not cover what text/template's own slice,
// index and len make of a secret straight from one (`slice (secret "a"
// "hex:16") 0 6`): a call that took one counts as a read of a secret
// (see readsSecret).
func (t *Tracker) renderFuncs(took *bool) template.FuncMap {
	fm := t.funcMap()
	if t == nil {
		return fm
	}
	fm = maps.Clone(fm)
	for name := range secretMakers {
		fm[name] = t.noting(fm[name], took)
	}
	return fm
}

// noting returns fn, noting in *took when it gives a secret (and not, in
// check mode, a placeholder for one).
func (t *Tracker) noting(fn any, took *bool) any {
	f := reflect.ValueOf(fn)
	typ := f.Type()
	return reflect.MakeFunc(typ, func(args []reflect.Value) []reflect.Value {
		var out []reflect.Value
		if typ.IsVariadic() {
			out = f.CallSlice(args)
		} else {
			out = f.Call(args)
		}
		if len(out) > 0 && out[0].CanInterface() && t.set.HoldsAny(out[0].Interface()) {
			*took = true
		}
		return out
	}).Interface()
}

func (t *Taint) wrap(fn any) any {
	f := reflect.ValueOf(fn)
	typ := f.Type()
	return reflect.MakeFunc(typ, func(args []reflect.Value) []reflect.Value {
		var out []reflect.Value
		if typ.IsVariadic() {
			out = f.CallSlice(args)
		} else {
			out = f.Call(args)
		}
		for _, a := range args {
			if a.IsValid() && a.CanInterface() && t.set.HoldsAny(a.Interface()) {
				for _, r := range out {
					t.set.Add(r.Interface())
				}
				break
			}
		}
		return out
	}).Interface()
}
