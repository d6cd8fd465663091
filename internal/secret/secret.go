// Package secret keeps the strings a run must never show, and hides them
// in text on its way out.
package secret

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
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
	mu      sync.Mutex
	strings map[string]bool
	r       *strings.Replacer // built on first use after a change
}

// Add adds the strings inside v: a string, or lists and mappings of them as
// decoded from YAML. Each string is hidden whole, as Go would quote it
// (error messages quote with %q), and line by line, so a multi-line secret
// such as a PEM key is hidden in a diff that shows some of its lines.
// Numbers count as their text; booleans and strings shorter than MinLen
// are not added.
func (s *Set) Add(v any) {
	var add []string
	walk(v, func(str string) {
		if len(str) < MinLen {
			return
		}
		add = append(add, str)
		if q := strconv.Quote(str); q[1:len(q)-1] != str {
			add = append(add, q[1:len(q)-1])
		}
		if strings.Contains(str, "\n") {
			for _, l := range strings.Split(str, "\n") {
				if l = strings.TrimSpace(l); len(l) >= MinLen {
					add = append(add, l)
				}
			}
		}
	})
	if len(add) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, str := range add {
		if s.strings[str] {
			continue
		}
		if s.strings == nil {
			s.strings = map[string]bool{}
		}
		s.strings[str] = true
		s.r = nil
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

// Redact returns str with every secret in it replaced by Mask.
func (s *Set) Redact(str string) string {
	r := s.replacer()
	if r == nil || str == "" {
		return str
	}
	return r.Replace(str)
}

// Holds reports whether str contains a secret.
func (s *Set) Holds(str string) bool {
	return str != "" && s.Redact(str) != str
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

func (s *Set) replacer() *strings.Replacer {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.strings) == 0 {
		return nil
	}
	if s.r == nil {
		// Longer first: the replacer tries its pairs in order, so a secret
		// that contains another is hidden whole.
		all := make([]string, 0, len(s.strings))
		for str := range s.strings {
			all = append(all, str)
		}
		slices.SortFunc(all, func(a, b string) int { return cmp.Or(len(b)-len(a), strings.Compare(a, b)) })
		args := make([]string, 0, 2*len(all))
		for _, str := range all {
			args = append(args, str, Mask)
		}
		s.r = strings.NewReplacer(args...)
	}
	return s.r
}
