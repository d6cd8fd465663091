// Package decode turns YAML nodes into typed Go values strictly: unknown keys,
// wrong types and missing required values are errors that carry the file, line
// and column of the offending node, and every such error is reported at once.
package decode

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/hashicorp/go-multierror"
	"gopkg.in/yaml.v3"
)

// Pos is a place in a YAML file.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

// At returns the position of n in file.
func At(file string, n *yaml.Node) Pos {
	if n == nil {
		return Pos{File: file}
	}
	return Pos{File: file, Line: n.Line, Col: n.Column}
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	case p.Col == 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is one problem at one place.
type Error struct {
	Pos Pos
	Msg string
	Err error // what caused it, when Msg tells of another error (%w)
}

func (e *Error) Error() string {
	if e.Pos.File == "" && e.Pos.Line == 0 {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

// Unwrap lets errors.Is and errors.As see the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an Error at pos. An error given with %w is kept as its
// cause, as fmt.Errorf keeps it.
func Errorf(pos Pos, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	e := &Error{Pos: pos, Msg: err.Error()}
	switch w := err.(type) {
	case interface{ Unwrap() error }:
		e.Err = w.Unwrap()
	case interface{ Unwrap() []error }:
		e.Err = errors.Join(w.Unwrap()...)
	}
	return e
}

// List collects errors and reports them one per line, sorted by position.
type List struct{ m *multierror.Error }

// Add appends err (nil is ignored; a multierror or List is flattened).
func (l *List) Add(err error) {
	if err == nil {
		return
	}
	if other, ok := err.(*List); ok {
		if other.m == nil {
			return
		}
		err = other.m
	}
	l.m = multierror.Append(l.m, err)
}

// Len is how many errors were added.
func (l *List) Len() int {
	if l.m == nil {
		return 0
	}
	return len(l.m.Errors)
}

// Err returns nil when nothing was added, else the list itself as an error.
func (l *List) Err() error {
	if l.Len() == 0 {
		return nil
	}
	l.sort()
	return l
}

// Errors returns the collected errors.
func (l *List) Errors() []error {
	if l.m == nil {
		return nil
	}
	return l.m.Errors
}

func (l *List) sort() {
	sort.SliceStable(l.m.Errors, func(i, j int) bool {
		a, b := posOf(l.m.Errors[i]), posOf(l.m.Errors[j])
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

func posOf(err error) Pos {
	if e, ok := err.(*Error); ok {
		return e.Pos
	}
	return Pos{}
}

func (l *List) Error() string {
	errs := l.Errors()
	if len(errs) == 1 {
		return errs[0].Error()
	}
	lines := make([]string, len(errs))
	for i, e := range errs {
		lines[i] = e.Error()
	}
	return fmt.Sprintf("%d errors:\n%s", len(errs), strings.Join(lines, "\n"))
}

// Unwrap lets errors.Is and errors.As see every collected error.
func (l *List) Unwrap() []error { return l.Errors() }

// quoteMax is how many characters of a value an error quotes.
const quoteMax = 40

// Quote quotes a value from a file for an error message: at most its first
// line, and at most quoteMax characters of that, followed by ... when cut.
// Enough to find the value; not a whole file, such as a private key given
// where YAML was meant, nor every line of a multi-line value.
func Quote(s string) string {
	cut := false
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s, cut = s[:i], true
	}
	if utf8.RuneCountInString(s) > quoteMax {
		n := 0
		for i := range s {
			if n == quoteMax {
				s, cut = s[:i], true
				break
			}
			n++
		}
	}
	q := strconv.Quote(s)
	if cut {
		q += "..."
	}
	return q
}

// Suggest returns a "did you mean" hint for word among known, or "".
func Suggest(word string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(strings.ToLower(word), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// distance is the Levenshtein edit distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// SyntaxError places a yaml.v3 parse error in file.
func SyntaxError(file string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Errorf(Pos{File: file, Line: line}, "YAML syntax: %s", m[2])
	}
	return Errorf(Pos{File: file}, "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}
