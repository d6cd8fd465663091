package mount

import (
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/tasks/hostfile"
)

// escape writes a field as fstab(5) and /proc/self/mountinfo want it:
// the characters that would split or end the field, and the backslash
// that starts an escape, as octal.
func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case ' ', '\t', '\n', '\\':
			b.WriteString(`\` + strconv.FormatInt(int64(r)+0o1000, 8)[1:])
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unescape reads a field written by escape (or by the kernel): any \ooo.
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// entry is one line of fstab, its fields unescaped.
type entry struct {
	src, path, fstype, opts, dump, passno string
}

func (e entry) line() string {
	return strings.Join([]string{escape(e.src), escape(e.path), e.fstype, escape(e.opts), e.dump, e.passno}, " ")
}

// parseEntry reads a line of fstab; ok is false for comments, blank
// lines and lines too short to mount anything. dump and passno default to
// 0, as fstab(5) says.
func parseEntry(line string) (entry, bool) {
	f := strings.Fields(line)
	if len(f) < 3 || strings.HasPrefix(f[0], "#") {
		return entry{}, false
	}
	if len(f) < 6 {
		f = append(f, []string{"defaults", "0", "0"}[len(f)-3:]...)
	}
	return entry{unescape(f[0]), unescape(f[1]), f[2], unescape(f[3]), f[4], f[5]}, true
}

// edit returns text with the entry for want.path as asked: with want
// (nil: none). An existing line that says the same in other spacing is
// kept as it is; the first line for the path is replaced, later ones
// (which mount would never use) are removed, and a new line goes at the end.
func edit(text, mountPoint string, want *entry) string {
	var out []string
	placed := false
	for _, l := range hostfile.Lines(text) {
		e, ok := parseEntry(l)
		if !ok || e.path != mountPoint {
			out = append(out, l)
			continue
		}
		if want == nil || placed {
			continue
		}
		placed = true
		if e == *want {
			out = append(out, l)
		} else {
			out = append(out, want.line()+"\n")
		}
	}
	if want != nil && !placed {
		if n := len(out); n > 0 && !strings.HasSuffix(out[n-1], "\n") {
			out[n-1] += "\n"
		}
		out = append(out, want.line()+"\n")
	}
	return strings.Join(out, "")
}
