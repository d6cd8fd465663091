package inventory

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
)

// sniffINI tells an Ansible INI inventory from YAML by its first line that
// says something: YAML opens with "---", a directive, a mapping key
// ("name:" then a space or the end of the line) or a flow mapping; INI
// with a section ([web]), a host line (web01 ansible_port=22, web01:2222)
// or a ';' comment.
func sniffINI(data []byte) bool {
	for line := range bytes.Lines(data) {
		s := strings.TrimSpace(string(line))
		switch {
		case s == "" || s[0] == '#':
			continue
		case s[0] == ';' || s[0] == '[':
			return true
		case strings.HasPrefix(s, "---") || s[0] == '%' || s[0] == '{' || s[0] == '-':
			return false
		}
		return !yamlKey.MatchString(s)
	}
	return false
}

var yamlKey = regexp.MustCompile(`^("[^"]*"|'[^']*'|[^\s"']+?)\s*:(\s|$)`)

// section is Ansible's: [name], [name:vars], [name:children], then an
// optional comment.
var section = regexp.MustCompile(`^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$`)

// parseINI reads an inventory in Ansible's INI format.
func (b *ansibleInv) parseINI(file string, data []byte) error {
	var errs decode.List
	state, group := "hosts", "ungrouped"
	lineNo := 0
	for raw := range bytes.Lines(data) {
		lineNo++
		line := strings.TrimRight(string(raw), "\r\n")
		s := strings.TrimSpace(line)
		indent := len(line) - len(strings.TrimLeft(line, " \t"))
		pos := decode.Pos{File: file, Line: lineNo, Col: indent + 1}
		if s == "" || s[0] == '#' || s[0] == ';' {
			continue
		}
		if s[0] == '[' {
			m := section.FindStringSubmatch(s)
			if m == nil {
				errs.Add(decode.Errorf(pos, "want a section header: [GROUP], [GROUP:vars] or [GROUP:children], got %s", decode.Quote(s)))
				state = "skip"
				continue
			}
			group = m[1]
			switch m[2] {
			case "":
				state = "hosts"
			case "vars", "children":
				state = m[2]
			default:
				errs.Add(decode.Errorf(pos, "section %s: unknown kind %s: use [GROUP], [GROUP:vars] or [GROUP:children]", sectionName(m[1], m[2]), decode.Quote(m[2])))
				state = "skip"
				continue
			}
			b.group(group, pos)
			continue
		}
		switch state {
		case "hosts":
			errs.Add(b.iniHost(file, lineNo, indent, line, group))
		case "children":
			name, _, _ := strings.Cut(s, "#")
			name = strings.TrimSpace(name)
			if name == "" || strings.ContainsAny(name, " \t:[]=") {
				errs.Add(decode.Errorf(pos, "%s: want the name of a group, one a line, got %s", sectionName(group, "children"), decode.Quote(s)))
				continue
			}
			b.child(group, name, pos)
		case "vars":
			k, v, ok := strings.Cut(s, "=")
			if !ok {
				errs.Add(decode.Errorf(pos, "%s: want NAME=VALUE, got %s", sectionName(group, "vars"), decode.Quote(s)))
				continue
			}
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			vpos := pos
			vpos.Col = strings.Index(line, "=") + 2
			errs.Add(setVar(b.groups[group].Vars, k, pos, tmpl.Var{Value: pyLiteral(v), Pos: vpos}))
		}
	}
	return errs.Err()
}

// iniHost reads `PATTERN[:PORT] [NAME=VALUE]...`, split as a shell splits
// words (as Ansible's shlex does).
func (b *ansibleInv) iniHost(file string, lineNo, indent int, line, group string) error {
	words, err := shellWords(line)
	if err != nil {
		return decode.Errorf(decode.Pos{File: file, Line: lineNo, Col: indent + 1}, "%v", err)
	}
	if len(words) == 0 {
		return nil // a comment after spaces
	}
	first := words[0]
	at := decode.Pos{File: file, Line: lineNo, Col: first.col}
	pattern, port, err := splitPort(first.text)
	if err != nil {
		return decode.Errorf(at, "%v", err)
	}
	names, err := expandHosts(pattern)
	if err != nil {
		return decode.Errorf(at, "%v", err)
	}
	var errs decode.List
	vars := map[string]tmpl.Var{}
	if port != 0 {
		vars["ansible_port"] = tmpl.Var{Value: port, Pos: at}
	}
	for _, w := range words[1:] {
		wpos := decode.Pos{File: file, Line: lineNo, Col: w.col}
		k, v, ok := strings.Cut(w.text, "=")
		if !ok {
			errs.Add(decode.Errorf(wpos, "host %s: want NAME=VALUE after the host, got %s (quote a value that holds spaces: k=\"a b\")", decode.Quote(pattern), decode.Quote(w.text)))
			continue
		}
		vpos := wpos
		vpos.Col += len(k) + 1
		errs.Add(setVar(vars, k, wpos, tmpl.Var{Value: pyLiteral(v), Pos: vpos}))
	}
	for _, name := range names {
		h := b.host(name, group, at)
		for k, v := range vars {
			h.Vars[k] = v
		}
	}
	return errs.Err()
}

// splitPort cuts HOST:PORT; a ':' inside a range ([01:20]) is the range's.
func splitPort(s string) (string, int, error) {
	depth, colon := 0, -1
	for i, r := range s {
		switch r {
		case '[':
			depth++
		case ']':
			depth--
		case ':':
			if depth == 0 {
				if colon >= 0 {
					return "", 0, fmt.Errorf("host %s: want HOST or HOST:PORT (runbook does not read IPv6 addresses as host names: set ansible_host)", decode.Quote(s))
				}
				colon = i
			}
		}
	}
	if colon < 0 {
		return s, 0, nil
	}
	port, err := strconv.Atoi(s[colon+1:])
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("host %s: the port after ':' must be a number between 1 and 65535", decode.Quote(s))
	}
	return s[:colon], port, nil
}

type word struct {
	text string
	col  int // 1-based, in bytes
}

// shellWords splits a line as Python's shlex.split(line, comments=True):
// quotes group and are removed, a backslash escapes the next character
// (in double quotes only '"' and '\'), '#' outside quotes ends the line.
func shellWords(line string) ([]word, error) {
	var out []word
	var cur strings.Builder
	in, start := false, 0
	flush := func() {
		if in {
			out = append(out, word{cur.String(), start + 1})
			cur.Reset()
			in = false
		}
	}
	begin := func(i int) {
		if !in {
			in, start = true, i
		}
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == ' ' || c == '\t':
			flush()
		case c == '#':
			flush()
			return out, nil
		case c == '\\':
			begin(i)
			if i+1 < len(line) {
				i++
				cur.WriteByte(line[i])
			}
		case c == '\'' || c == '"':
			begin(i)
			j := i + 1
			for ; j < len(line) && line[j] != c; j++ {
				if c == '"' && line[j] == '\\' && j+1 < len(line) && (line[j+1] == '"' || line[j+1] == '\\') {
					j++
				}
				cur.WriteByte(line[j])
			}
			if j >= len(line) {
				return nil, fmt.Errorf("a %c opened at column %d is not closed on this line", c, i+1)
			}
			i = j
		default:
			begin(i)
			cur.WriteByte(c)
		}
	}
	flush()
	return out, nil
}

var (
	pyInt   = regexp.MustCompile(`^[-+]?(0|[1-9](_?[0-9])*)$`)
	pyFloat = regexp.MustCompile(`^[-+]?([0-9]+\.[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$|^[-+]?[0-9]+[eE][-+]?[0-9]+$`)
)

// pyLiteral types a value as Ansible's INI plugin does with Python's
// ast.literal_eval, for scalars: integers, floats, True and False, None
// and quoted strings; anything else (true, yes, 01, lists) stays the
// string it is.
func pyLiteral(s string) any {
	switch s {
	case "True":
		return true
	case "False":
		return false
	case "None":
		return nil
	}
	if pyInt.MatchString(s) {
		if n, err := strconv.Atoi(strings.ReplaceAll(s, "_", "")); err == nil {
			return n
		}
		return s
	}
	if pyFloat.MatchString(s) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	if len(s) >= 2 && (s[0] == '\'' || s[0] == '"') && s[len(s)-1] == s[0] {
		if inner := s[1 : len(s)-1]; !strings.ContainsRune(inner, rune(s[0])) && !strings.Contains(inner, `\`) {
			return inner
		}
	}
	return s
}

// sectionName shows a section as it is written, unless its name is too
// long to show whole.
func sectionName(group, kind string) string {
	if q := decode.Quote(group); q != `"`+group+`"` {
		return q + " (" + kind + ")"
	}
	return "[" + group + ":" + kind + "]"
}
