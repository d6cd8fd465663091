// Package secret keeps the strings a run must never show, and hides them
// in text on its way out.
package secret

import (
	"fmt"
	"strings"
	"sync"
)

// Mask replaces a secret in output.
const Mask = "********"

// MinLen is the shortest string hidden wherever it appears. A shorter one
// cannot be told apart from ordinary text: hiding every "a" of a one-letter
// value in a secret mapping would garble all output and hide nothing.
const MinLen = 4

// Set is the strings that must never be shown: values tagged !secret and
// what templates derived from them. It is safe for concurrent use.
type Set struct {
	mu      sync.RWMutex
	strings map[string]bool
	idx     index
}

// Add adds the strings inside v: a string, or lists and mappings of them as
// decoded from YAML. Each string is hidden whole, in the forms a host may
// print it in (upper and lower case, base64, hex, URL-encoded: see forms),
// and as Go and JSON quote them (error messages quote with %q, events are
// JSON); a multi-line one line by line too, so a secret such as a PEM key
// is hidden in a diff that shows some of its lines. Numbers count as their
// text; booleans and strings shorter than MinLen are not added.
func (s *Set) Add(v any) {
	var add []string
	walk(v, func(str string) {
		if len(str) < MinLen {
			return
		}
		fs := []string{str}
		if len(str) <= maxForms {
			fs = forms(str)
		}
		for _, f := range fs {
			add = append(add, f)
			add = append(add, quoted(f)...)
			if strings.Contains(f, "\n") {
				for _, l := range strings.Split(f, "\n") {
					if l = strings.TrimSpace(l); len(l) >= MinLen {
						add = append(add, l)
					}
				}
			}
		}
	})
	s.add(add)
}

// AddDerived adds the strings inside v (as for Add) as what was made from
// a secret, such as a template's whole output: each is hidden whole and
// quoted, not line by line (a configuration file's lines are mostly not
// secret) nor in the other forms of a secret.
func (s *Set) AddDerived(v any) {
	var add []string
	walk(v, func(str string) {
		if len(str) >= MinLen {
			add = append(add, str)
			add = append(add, quoted(str)...)
		}
	})
	s.add(add)
}

func (s *Set) add(strs []string) {
	if len(strs) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, str := range strs {
		if len(str) < MinLen || s.strings[str] {
			continue
		}
		if s.strings == nil {
			s.strings = map[string]bool{}
		}
		s.strings[str] = true
		s.idx.add(str)
	}
}

func walk(v any, fn func(string)) {
	switch x := v.(type) {
	case string:
		fn(x)
	case []string:
		for _, item := range x {
			fn(item)
		}
	case []any:
		for _, item := range x {
			walk(item, fn)
		}
	case map[string]any:
		for _, item := range x {
			walk(item, fn)
		}
	case int, int64, uint64, float64:
		fn(fmt.Sprint(x))
	}
}

// Redact returns str with every secret in it replaced by Mask: each
// stretch of text that secrets cover, overlapping ones together, becomes
// one Mask.
func (s *Set) Redact(str string) string {
	if s == nil || str == "" {
		return str
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out strings.Builder
	last := 0
	s.idx.spans(str, func(start, end int) bool {
		out.WriteString(str[last:start])
		out.WriteString(Mask)
		last = end
		return true
	})
	if last == 0 {
		return str
	}
	out.WriteString(str[last:])
	return out.String()
}

// Holds reports whether str contains a secret.
func (s *Set) Holds(str string) bool {
	if s == nil || str == "" {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	held := false
	s.idx.spans(str, func(int, int) bool { held = true; return false })
	return held
}

// HoldsAny reports whether a string inside v (as for Add) contains a
// secret.
func (s *Set) HoldsAny(v any) bool {
	held := false
	walk(v, func(str string) { held = held || s.Holds(str) })
	return held
}

// RedactValue returns a copy of v whose strings are redacted.
func (s *Set) RedactValue(v any) any {
	switch x := v.(type) {
	case string:
		return s.Redact(x)
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = s.RedactValue(item)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			out[k] = s.RedactValue(item)
		}
		return out
	}
	return v
}
