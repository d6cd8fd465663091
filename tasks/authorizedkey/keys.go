package authorizedkey

import (
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/ssh"
)

// entry is one key line as sshd reads it.
type entry struct {
	id      string // type and base64 blob: what the key is, whatever its options or comment
	options string
	comment string
	label   string // how the change summary names it
}

// parseLine reads one authorized_keys line; ok is false for a comment, a
// blank line or one sshd would not take as a key.
func parseLine(line string) (entry, bool) {
	if strings.ContainsAny(line, "\r\n") {
		return entry{}, false
	}
	// ParseAuthorizedKey skips lines it cannot read and reads the next:
	// one line at a time, it reads that line or nothing.
	k, comment, options, _, err := ssh.ParseAuthorizedKey([]byte(line))
	if err != nil {
		return entry{}, false
	}
	id := k.Type() + " " + base64.StdEncoding.EncodeToString(k.Marshal())
	label := k.Type() + " " + ssh.FingerprintSHA256(k)
	if comment != "" {
		label += " (" + comment + ")"
	}
	return entry{id: id, options: strings.Join(options, ","), comment: comment, label: label}, true
}

// line is the entry as a line of the file, without its newline.
func (e entry) line() string {
	s := e.id
	if e.options != "" {
		s = e.options + " " + s
	}
	if e.comment != "" {
		s += " " + e.comment
	}
	return s
}

// edit is what the file holds once the keys wanted are present (or
// absent), with the summary of what differs. Lines are edited in place: a
// key's line keeps its place when its options or comment change, and
// every other line (comments included) is kept, but for other keys when
// exclusive. Keys not in the file are added in the order wanted.
func edit(old string, wants []entry, absent, exclusive bool) (string, []string) {
	lines := strings.SplitAfter(old, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	byID := make(map[string]entry, len(wants))
	for _, w := range wants {
		byID[w.id] = w
	}
	var out, summary []string
	found := map[string]bool{}
	for _, raw := range lines {
		text := strings.TrimRight(raw, "\r\n")
		e, isKey := parseLine(text)
		want, wanted := byID[e.id]
		switch {
		case !isKey && (exclusive && !comment(text)):
			summary = append(summary, fmt.Sprintf("- line %q (exclusive: not a key of this step)", text))
			continue
		case !isKey:
		case !wanted && exclusive:
			summary = append(summary, "- key "+e.label+" (exclusive: not this step's)")
			continue
		case !wanted:
		case absent:
			summary = append(summary, "- key "+e.label)
			continue
		case found[e.id]:
			summary = append(summary, "- key "+e.label+" (a second line for the same key)")
			continue
		default:
			found[e.id] = true
			if e.options != want.options {
				summary = append(summary, fmt.Sprintf("~ options of key %s: %q -> %q", want.label, e.options, want.options))
			}
			if e.comment != want.comment {
				summary = append(summary, fmt.Sprintf("~ comment of key %s: %q -> %q", want.label, e.comment, want.comment))
			}
			if e.options != want.options || e.comment != want.comment {
				raw = want.line() + "\n"
			}
		}
		if !strings.HasSuffix(raw, "\n") {
			raw += "\n"
		}
		out = append(out, raw)
	}
	for _, w := range wants {
		if !found[w.id] && !absent {
			found[w.id] = true
			summary = append(summary, "+ key "+w.label)
			out = append(out, w.line()+"\n")
		}
	}
	if len(summary) == 0 {
		return old, nil
	}
	return strings.Join(out, ""), summary
}

// comment reports whether a line is a comment or blank, which sshd skips.
func comment(line string) bool {
	t := strings.TrimSpace(line)
	return t == "" || strings.HasPrefix(t, "#")
}

// sshd ignores a key whose options it does not know, or whose value is
// not in double quotes (sshd(8), AUTHORIZED_KEYS FILE FORMAT).
var (
	flagOptions = map[string]bool{
		"agent-forwarding": true, "cert-authority": true, "no-agent-forwarding": true, "no-port-forwarding": true,
		"no-pty": true, "no-user-rc": true, "no-x11-forwarding": true, "port-forwarding": true, "pty": true,
		"no-touch-required": true, "verify-required": true, "restrict": true, "user-rc": true, "x11-forwarding": true,
	}
	valueOptions = map[string]bool{
		"command": true, "environment": true, "expiry-time": true, "from": true, "permitlisten": true,
		"permitopen": true, "principals": true, "tunnel": true,
	}
)

// checkOptions judges options (comma-separated, as ParseAuthorizedKey
// split them) by the names and forms sshd takes.
func checkOptions(options string) error {
	_, _, opts, _, err := ssh.ParseAuthorizedKey([]byte(options + " " + placeholderKey))
	if err != nil {
		return err
	}
	for _, o := range opts {
		name, value, hasValue := strings.Cut(o, "=")
		lower := strings.ToLower(name)
		switch {
		case flagOptions[lower] && hasValue:
			return fmt.Errorf("%s takes no value", name)
		case flagOptions[lower]:
		case valueOptions[lower] && (!hasValue || len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"'):
			return fmt.Errorf(`%s needs a value in double quotes: %s="..."`, name, name)
		case !valueOptions[lower]:
			return fmt.Errorf("sshd does not know option %q: see AUTHORIZED_KEYS FILE FORMAT in sshd(8)", name)
		}
	}
	return nil
}

// placeholderKey is a well-formed key, to read options alone.
const placeholderKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFx2ZN8Fz9v8bQ4gXGmVhY5m7LdvVdWDN0F0Lw4Z7lQH"
