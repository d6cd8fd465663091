// Package tmpl renders runbook templates (Go text/template) strictly: a
// variable that is not defined is an error naming the variable and the place
// in the runbook where it was used.
package tmpl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"
	"text/template/parse"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

var funcs = template.FuncMap{
	"default": func(def, v any) any {
		if v == nil || v == "" {
			return def
		}
		return v
	},
	"join": func(sep string, items any) (string, error) {
		switch l := items.(type) {
		case []string:
			return strings.Join(l, sep), nil
		case []any:
			s := make([]string, len(l))
			for i, x := range l {
				s[i] = fmt.Sprint(x)
			}
			return strings.Join(s, sep), nil
		}
		return "", fmt.Errorf("join: want a list, got %T", items)
	},
	"quote":     ShellQuote,
	"toJSON":    toJSON,
	"lower":     strings.ToLower,
	"upper":     strings.ToUpper,
	"trim":      strings.TrimSpace,
	"split":     func(sep, s string) []string { return strings.Split(s, sep) },
	"replace":   func(old, new, s string) string { return strings.ReplaceAll(s, old, new) },
	"contains":  func(sub, s string) bool { return strings.Contains(s, sub) },
	"hasPrefix": func(prefix, s string) bool { return strings.HasPrefix(s, prefix) },
	"hasSuffix": func(suffix, s string) bool { return strings.HasSuffix(s, suffix) },
	"printf":    fmt.Sprintf,
	"has": func(item any, list any) bool {
		switch l := list.(type) {
		case []string:
			for _, x := range l {
				if x == fmt.Sprint(item) {
					return true
				}
			}
		case []any:
			for _, x := range l {
				if fmt.Sprint(x) == fmt.Sprint(item) {
					return true
				}
			}
		}
		return false
	},
}

// Funcs lists the functions available to templates beside text/template's own.
func Funcs() []string {
	out := make([]string, 0, len(funcs))
	for name := range funcs {
		out = append(out, name)
	}
	return out
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// Parse parses s as a template; errors are placed at pos.
func Parse(pos decode.Pos, s string) (*template.Template, error) {
	return parseWith(pos, s, funcs)
}

func parseWith(pos decode.Pos, s string, fm template.FuncMap) (*template.Template, error) {
	t, err := template.New("t").Funcs(fm).Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, decode.Errorf(pos, "%s", cleanParseError(err))
	}
	if len(t.Templates()) > 1 || invokes(t.Tree.Root) {
		// A value invoking itself recursed 100000 levels before
		// text/template gave up, for each host.
		return nil, decode.Errorf(pos, "template syntax: {{ template }}, {{ define }} and {{ block }} belong in template files, not in values")
	}
	return t, nil
}

// invokes reports whether the tree under n holds a {{ template }} action.
func invokes(n parse.Node) bool {
	switch x := n.(type) {
	case *parse.TemplateNode:
		return true
	case *parse.ListNode:
		if x == nil {
			return false
		}
		for _, c := range x.Nodes {
			if invokes(c) {
				return true
			}
		}
	case *parse.IfNode:
		return invokes(x.List) || invokes(x.ElseList)
	case *parse.RangeNode:
		return invokes(x.List) || invokes(x.ElseList)
	case *parse.WithNode:
		return invokes(x.List) || invokes(x.ElseList)
	}
	return false
}

// Render renders s with data. Strings without actions are returned as is.
func Render(pos decode.Pos, s string, data map[string]any) (string, error) {
	return render(pos, s, data, true)
}

// render is Render; hold says whether reading a secret makes what the
// data is for hold one (see Tracker.Held): a condition's true or false
// does not pass the secret on to the step's parameters.
func render(pos decode.Pos, s string, data map[string]any, hold bool) (string, error) {
	if !decode.HasTemplate(s) {
		return s, nil
	}
	tr := trackerOf(data)
	took := false
	t, err := parseWith(pos, s, tr.renderFuncs(&took))
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", &decode.Error{Pos: pos, Msg: cleanExecError(err), Err: undefinedIn(err.Error(), execNoise, 1)}
	}
	tr.rendered(t.Tree, data, buf.String(), hold, took)
	return buf.String(), nil
}

// Cond evaluates a condition such as `when` or `until`. Either a bare
// expression (`eq .env "prod"`) or a whole template may be given; it must
// come out as true or false.
func Cond(pos decode.Pos, expr string, data map[string]any) (bool, error) {
	out, err := render(pos, CondText(expr), data, false)
	if err != nil {
		return false, err
	}
	switch strings.TrimSpace(out) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, decode.Errorf(pos, "condition %s gave %s, want true or false", decode.Quote(expr), decode.Quote(out))
}

// CheckCond parses a condition without evaluating it, and refuses one that
// could never come out as true or false, such as 1 or "{{ .a }} == 1".
func CheckCond(pos decode.Pos, expr string) error {
	t, err := Parse(pos, CondText(expr))
	if err != nil {
		return err
	}
	if why := notBoolean(t); why != "" {
		return decode.Errorf(pos, "condition %s %s, so it is never true or false: write an expression such as `eq .env \"prod\"` or `.ok`", decode.Quote(expr), why)
	}
	return nil
}

// RenderNode returns a copy of n whose string scalars are rendered with
// data. A rendered plain scalar is typed again from its new text, so
// `port: "{{ .port }}"` decodes into an int field. Aliases stay aliases, to
// one rendered copy of their anchor's value: copying what they stand for
// would cost as much as an alias or merge bomb expands to.
func RenderNode(file string, n *yaml.Node, data map[string]any) (*yaml.Node, error) {
	r := nodeRenderer{file: file, data: data, done: map[*yaml.Node]*yaml.Node{}}
	out := r.render(n)
	return out, r.errs.Err()
}

type nodeRenderer struct {
	file string
	data map[string]any
	done map[*yaml.Node]*yaml.Node // rendered copies, by original
	errs decode.List
}

func (r *nodeRenderer) render(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	if c, ok := r.done[n]; ok {
		return c
	}
	c := *n
	r.done[n] = &c
	switch n.Kind {
	case yaml.AliasNode:
		c.Alias = r.render(n.Alias)
	case yaml.ScalarNode:
		if decode.HasTemplate(n.Value) {
			s, err := Render(decode.At(r.file, n), n.Value, r.data)
			r.errs.Add(err)
			c.Value, c.Tag, c.Style = s, "", 0
			if strings.HasPrefix(strings.TrimSpace(s), "[") {
				c.Style = yaml.FlowStyle // a list as text, for list parameters
			}
			if n.Tag == "!secret" {
				c.Tag = n.Tag // still secret once rendered
			}
			if strings.Contains(s, "\n") {
				c.Style = yaml.LiteralStyle
			}
		}
	default:
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, child := range n.Content {
			c.Content[i] = r.render(child)
		}
	}
	return &c
}

// CheckNode parses every template in n, reporting syntax errors.
func CheckNode(file string, n *yaml.Node) error {
	var errs decode.List
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n == nil {
			return
		}
		if n.Kind == yaml.ScalarNode && decode.HasTemplate(n.Value) {
			_, err := Parse(decode.At(file, n), n.Value)
			if err != nil && n.Tag == "!secret" {
				// The parser's message quotes pieces of the template.
				err = decode.Errorf(decode.At(file, n), "%s", secretSyntax)
			}
			errs.Add(err)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
	return errs.Err()
}

const secretSyntax = "a secret value holds a template that does not parse (not shown: check its {{ }})"

var (
	noEntry   = regexp.MustCompile(`map has no entry for key "([^"]*)"`)
	execNoise = regexp.MustCompile(`^template: t:[\d:]*: executing "t" at <([^>]*)>: `)
	nameNoise = regexp.MustCompile(`^template: t:[\d:]* ?`)
)

// Undefined is the cause of an error about a variable, or a key of one,
// that is not there: check mode tells a value that an earlier step would
// have registered from a name nobody defines by it.
type Undefined struct {
	// Path is where the template was when it failed, as text/template
	// says it: what it read (".out.stdout"), or for other expressions
	// their last operand (`"h1"` for `(index .hostvars "h1").tok.stdout`);
	// just the key when the error does not say.
	Path string
	// Key is the key that is not there: "stdout".
	Key string
}

func (u *Undefined) Error() string { return "undefined " + u.Path }

// Keys are Path's keys, from the data's top ("out", "stdout"), when Path
// is a chain of fields; nil for any other expression. Inside {{ with }}
// or {{ range }} a chain starts from the dot there, not from the top.
func (u *Undefined) Keys() []string {
	if !strings.HasPrefix(u.Path, ".") || strings.ContainsAny(u.Path, " ()\"$") {
		return nil
	}
	return strings.Split(u.Path[1:], ".")
}

// Root is the variable Path starts from ("out" for ".out.stdout"), or ""
// when Path is not a chain of fields.
func (u *Undefined) Root() string {
	if k := u.Keys(); len(k) > 0 {
		return k[0]
	}
	return ""
}

// undefinedIn is the Undefined that msg, a text/template error, tells of,
// or nil; at finds where it happened, in submatch i.
func undefinedIn(msg string, at *regexp.Regexp, i int) error {
	m := noEntry.FindStringSubmatch(msg)
	if m == nil {
		return nil
	}
	if e := at.FindStringSubmatch(msg); e != nil && e[i] != "" {
		return &Undefined{Path: e[i], Key: m[1]}
	}
	return &Undefined{Path: m[1], Key: m[1]}
}

func cleanExecError(err error) string {
	msg := err.Error()
	if m := noEntry.FindStringSubmatch(msg); m != nil {
		at := ""
		if e := execNoise.FindStringSubmatch(msg); e != nil && e[1] != "."+m[1] {
			at = fmt.Sprintf(" (in %s)", e[1])
		}
		return fmt.Sprintf("undefined variable %q%s: define it in the runbook's vars, the inventory or with -e %s=...", m[1], at, m[1])
	}
	if e := execNoise.FindStringSubmatchIndex(msg); e != nil {
		return fmt.Sprintf("template: at <%s>: %s", msg[e[2]:e[3]], msg[e[1]:])
	}
	return "template: " + nameNoise.ReplaceAllString(msg, "")
}

func cleanParseError(err error) string {
	return "template syntax: " + nameNoise.ReplaceAllString(err.Error(), "")
}

var fileNoise = regexp.MustCompile(`^template: [^:]*:(\d+)(?::(\d+))?: (?:executing "[^"]*" at <([^>]*)>: )?`)

// RenderFile renders a template file's text with data. Errors name the
// file and the line (and column) in it.
func RenderFile(file, text string, data map[string]any) (string, error) {
	tr := trackerOf(data)
	took := false
	t, err := template.New(file).Funcs(tr.renderFuncs(&took)).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", fileError(file, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return "", fileError(file, err)
	}
	tr.rendered(t.Tree, data, buf.String(), true, took)
	return buf.String(), nil
}

func fileError(file string, err error) error {
	msg := strings.ReplaceAll(err.Error(), "template: "+file+":", "template: f:")
	undef := undefinedIn(msg, fileNoise, 3)
	pos := decode.Pos{File: file}
	if m := fileNoise.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &pos.Line)
		if m[2] != "" {
			fmt.Sscan(m[2], &pos.Col)
		}
		msg = msg[len(m[0]):]
	}
	if m := noEntry.FindStringSubmatch(msg); m != nil {
		msg = fmt.Sprintf("undefined variable %q: define it in the runbook's vars, the inventory or with -e %s=...", m[1], m[1])
	}
	return &decode.Error{Pos: pos, Msg: msg, Err: undef}
}
