package tmpl

import (
	"errors"
	"fmt"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
)

// Pair is one key=value of an -e or -a argument; Quoted says some of the
// value was quoted, which keeps it a string.
type Pair struct {
	Key, Value string
	Quoted     bool
}

// SplitPairs splits s into key=value pairs at blanks, as ansible-playbook
// reads `-e "a=1 b=2"` and `-a` for modules: single quotes keep
// everything, double quotes all but \" and \\, a backslash outside
// quotes keeps the next character, and a template's {{ ... }} is kept
// whole. A word that is not key=value is an
// error: it is most often a value with spaces left unquoted. With an
// error, the pairs before it are returned too.
func SplitPairs(s string) ([]Pair, error) {
	words, quoted, err := shellWords(s)
	if err != nil {
		return nil, err
	}
	var out []Pair
	for i, w := range words {
		k, v, ok := strings.Cut(w, "=")
		switch {
		case ok && k != "":
			out = append(out, Pair{Key: k, Value: v, Quoted: quoted[i]})
		case i > 0 && ok:
			return out, fmt.Errorf("%s is not key=value: the key is missing", decode.Quote(w))
		case i > 0:
			prev := out[len(out)-1]
			return out, fmt.Errorf("%s is not key=value; quote a value with spaces, as in %s=\"%s %s\"", decode.Quote(w), prev.Key, prev.Value, w)
		default:
			return nil, errWantPair
		}
	}
	if len(out) == 0 {
		return nil, errWantPair
	}
	return out, nil
}

var errWantPair = errors.New("want key=value")

// shellWords splits s at blanks outside quotes. quoted[i] says whether
// any of word i was quoted or escaped.
func shellWords(s string) (words []string, quoted []bool, err error) {
	var w strings.Builder
	in := false // a word has started (it may be "")
	q := false
	var quote byte // the open quote, or 0
	braces := 0    // how deep in {{ ... }}
	flush := func() {
		if in {
			words, quoted = append(words, w.String()), append(quoted, q)
		}
		w.Reset()
		in, q = false, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				w.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
				i++
				w.WriteByte(s[i])
			default:
				w.WriteByte(c)
			}
		case strings.HasPrefix(s[i:], "{{"):
			braces++
			w.WriteString("{{")
			i++
			in = true
		case braces > 0 && strings.HasPrefix(s[i:], "}}"):
			braces--
			w.WriteString("}}")
			i++
		case braces > 0:
			w.WriteByte(c)
		case c == ' ' || c == '\t' || c == '\n':
			flush()
		case c == '\'' || c == '"':
			quote, in, q = c, true, true
		case c == '\\' && i+1 < len(s):
			i++
			w.WriteByte(s[i])
			in, q = true, true
		default:
			w.WriteByte(c)
			in = true
		}
	}
	if quote != 0 {
		return nil, nil, fmt.Errorf("unterminated %c quote", quote)
	}
	flush()
	return words, quoted, nil
}
