package secret

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
)

// maxForms is the longest string hidden in all its forms. A longer one is
// output (a secret step's registered stdout), not a key: it is hidden
// whole, quoted and line by line, and its encodings, which would cost
// several times its size, are not.
const maxForms = 64 << 10

// forms are the ways a secret may be shown besides its own text: what the
// programs a host runs make of it without any template's help (tr,
// base64, xxd -p, od, curl's URL encoding), so that a command that prints
// `echo $TOKEN | base64` shows nothing either. It is a list, not a proof:
// a host can always transform a secret in a way no list foresees, which
// is why whatever a step that reads a secret prints is hidden as well
// (see the engine).
func forms(s string) []string {
	b := []byte(s)
	std := base64.StdEncoding.EncodeToString(b)
	h := hex.EncodeToString(b)
	out := []string{
		s, strings.ToUpper(s), strings.ToLower(s),
		std, base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b),
		h, strings.ToUpper(h),
		url.QueryEscape(s), url.PathEscape(s),
	}
	// Tools wrap long output: base64(1) at 76 columns, PEM and openssl at
	// 64, xxd -p at 60.
	out = append(out, wrapped(std, 76)...)
	out = append(out, wrapped(std, 64)...)
	out = append(out, wrapped(h, 60)...)
	return append(out, embedded(b)...)
}

// wrapped is s cut into lines of n, when it is longer.
func wrapped(s string, n int) []string {
	if len(s) <= n {
		return nil
	}
	var out []string
	for ; len(s) > 0; s = s[min(n, len(s)):] {
		out = append(out, s[:min(n, len(s))])
	}
	return out
}

// minEmbedded is the shortest base64 of a secret inside other text that
// is hidden: shorter runs of base64 letters are ordinary words.
const minEmbedded = 8

// embedded is the base64 of b where b is inside a longer text (an HTTP
// basic auth header, a file shipped encoded): for each of the three
// offsets b may start at, the run of characters that depend on b alone.
// The few characters at either end, which mix b with its neighbours, are
// not hidden.
func embedded(b []byte) []string {
	var out []string
	for off := range 3 {
		enc := base64.RawStdEncoding.EncodeToString(append(make([]byte, off), b...))
		core := enc[:4*((off+len(b))/3)] // whole groups: not changed by what follows
		if off > 0 {
			core = core[min(4, len(core)):] // the first group holds the text before b
		}
		if len(core) >= minEmbedded {
			out = append(out, core, strings.NewReplacer("+", "-", "/", "_").Replace(core))
		}
	}
	return out
}

// quoted are s as Go's %q and JSON quote it, without the quotes, where
// they differ from s: error messages quote with %q, JSON events encode.
func quoted(s string) []string {
	var out []string
	if q := strconv.Quote(s); q[1:len(q)-1] != s {
		out = append(out, q[1:len(q)-1])
	}
	if j, err := json.Marshal(s); err == nil && string(j[1:len(j)-1]) != s {
		out = append(out, string(j[1:len(j)-1]))
	}
	return out
}
