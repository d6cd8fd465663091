package output

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Escape makes s safe to write to a terminal: what a host sent (command
// output, file content, error text) must not retitle the window, move the
// cursor or overwrite earlier lines with a fake result. Control characters
// other than newline and tab, DEL, C1 controls, Unicode's line separators
// and bidirectional overrides (which reorder what is shown), and bytes that
// are not UTF-8 are written as visible escapes such as \x1b, \r, \u009b.
func Escape(s string) string { return escape(s, false) }

// EscapeLine is Escape for text that must stay on one line: a newline is
// escaped too.
func EscapeLine(s string) string { return escape(s, true) }

func escape(s string, oneLine bool) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unsafe(r, size, oneLine) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case !unsafe(r, size, oneLine):
			b.WriteString(s[i : i+size])
		case r == utf8.RuneError:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\n':
			b.WriteString(`\n`)
		case r < utf8.RuneSelf:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
		i += size
	}
	return b.String()
}

func unsafe(r rune, size int, oneLine bool) bool {
	switch {
	case r == utf8.RuneError && size == 1: // not UTF-8
		return true
	case r == '\n':
		return oneLine
	case r == '\t':
		return false
	case r < 0x20, r >= 0x7f && r < 0xa0: // C0, DEL, C1
		return true
	case r == 0x2028, r == 0x2029: // line and paragraph separators
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069: // bidi overrides and isolates
		return true
	}
	return false
}

// EscapeJSON escapes, in encoded JSON, the characters that encoding/json
// leaves raw but a terminal acts on: DEL and the C1 controls (U+0080 to
// U+009F), which a terminal may take as 8-bit escape sequences when the
// stream is shown as it is (tail -f, a CI log). encoding/json has already
// escaped the C0 controls and U+2028 and U+2029 and replaced bytes that are
// not UTF-8. Decoded, the text is unchanged.
func EscapeJSON(b []byte) []byte {
	var out []byte
	last := 0
	for i := 0; i < len(b); i++ {
		var r byte
		switch {
		case b[i] == 0x7f:
			r = 0x7f
		case b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] < 0xa0:
			r = b[i+1]
		default:
			continue
		}
		out = append(out, b[last:i]...)
		out = fmt.Appendf(out, `\u%04x`, r)
		if r != 0x7f {
			i++
		}
		last = i + 1
	}
	if out == nil {
		return b
	}
	return append(out, b[last:]...)
}
