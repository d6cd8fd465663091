package decode

import (
	"errors"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Options change how strictly a node is decoded.
type Options struct {
	// Templates accepts a scalar holding a template ("{{ ... }}") for a
	// field of any type without decoding it: its real value is known only
	// once it is rendered for a host. Used when validating a runbook.
	Templates bool
}

// Node decodes n into out, which must be a non-nil pointer. Every problem
// found is returned at once, as a *List of *Error positioned in file.
func Node(file string, n *yaml.Node, out any, opts Options) error {
	return newDecoder(file, opts).decode(n, out)
}

func (d *decoder) decode(n *yaml.Node, out any) error {
	v := reflect.ValueOf(out)
	if v.Kind() != reflect.Pointer || v.IsNil() {
		panic("decode.Node: out must be a non-nil pointer")
	}
	if n != nil {
		d.value(n, v.Elem())
	}
	return d.errs.Err()
}

// MaxAliasValues is how many values one decoding may reach through aliases
// (`*name`) and merge keys (`<<: *name`), each counted as often as it is
// reached. An anchor whose value itself repeats aliases multiplies: a few
// hundred bytes can stand for billions of values. yaml.v3 bounds its own
// decoding the same way; far above what a runbook or inventory writes by
// hand, far below what takes noticeable time.
const MaxAliasValues = 100_000

func newDecoder(file string, opts Options) *decoder {
	return &decoder{file: file, opts: opts, merged: map[*yaml.Node][][2]*yaml.Node{}, budget: MaxAliasValues}
}

// HasTemplate reports whether s holds template actions.
func HasTemplate(s string) bool { return strings.Contains(s, "{{") }

type decoder struct {
	file string
	opts Options
	errs List

	// merged holds each mapping's pairs with merge keys resolved, so a
	// mapping merged in many places is resolved once.
	merged map[*yaml.Node][][2]*yaml.Node

	visits     int        // values decoded, for tests
	aliased    int        // values reached through aliases and merges
	budget     int        // most aliased values allowed
	aliasDepth int        // how many aliases the current value is inside
	aliasFrom  *yaml.Node // the outermost alias being followed
	over       bool       // the budget ran out: decode nothing more
}

// spend counts n values about to be decoded and reports whether decoding
// may go on.
func (d *decoder) spend(n int, through bool) bool {
	if d.over {
		return false
	}
	d.visits += n
	if through || d.aliasDepth > 0 {
		d.aliased += n
	}
	if d.aliased > d.budget {
		d.over = true
		what := "aliases"
		if d.aliasFrom != nil && d.aliasFrom.Kind == yaml.AliasNode {
			what = "*" + d.aliasFrom.Value + " and the aliases before it"
		}
		d.errorf(d.aliasFrom, "%s expand to more than %d values: an anchor whose value repeats aliases multiplies them; write the values out, or nest fewer aliases", what, d.budget)
		return false
	}
	return true
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs.Add(Errorf(At(d.file, n), format, args...))
}

var (
	nodeType     = reflect.TypeFor[yaml.Node]()
	durationType = reflect.TypeFor[time.Duration]()
	unmarshaler  = reflect.TypeFor[yaml.Unmarshaler]()
)

func (d *decoder) value(n *yaml.Node, v reflect.Value) {
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
		if k := v.Kind(); n.Kind == yaml.ScalarNode && !isNull(n) && (k == reflect.Struct || k == reflect.Map) {
			// Not quoted: the file may be a key or a token given by mistake.
			d.errorf(n, "want %s, and the file holds a single value instead: is it the right file?", kindName(v.Type()))
			return
		}
	}
	if n.Kind == yaml.AliasNode {
		d.alias(n, func(target *yaml.Node) { d.value(target, v) })
		return
	}
	if !d.spend(1, false) {
		return
	}
	if v.Type() == nodeType {
		v.Set(reflect.ValueOf(*n))
		return
	}
	if d.opts.Templates && n.Kind == yaml.ScalarNode && HasTemplate(n.Value) && v.Kind() != reflect.String {
		return // known only once rendered
	}
	if reflect.PointerTo(v.Type()).Implements(unmarshaler) {
		d.decodeLeaf(n, v)
		return
	}
	if v.Type() == durationType {
		d.duration(n, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if isNull(n) {
			v.SetZero()
			return
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		d.value(n, v.Elem())
	case reflect.Struct:
		d.structure(n, v)
	case reflect.Slice:
		d.slice(n, v)
	case reflect.Map:
		d.mapping(n, v)
	case reflect.Interface:
		d.decodeLeaf(n, v)
	default:
		if n.Kind != yaml.ScalarNode {
			d.errorf(n, "want %s, got %s", kindName(v.Type()), NodeKind(n))
			return
		}
		d.decodeLeaf(n, v)
		if k := v.Kind(); k == reflect.Float32 || k == reflect.Float64 {
			d.finite(n, v)
		}
	}
}

// alias follows alias node n to its anchor's value.
func (d *decoder) alias(n *yaml.Node, fn func(target *yaml.Node)) {
	if n.Alias == nil {
		d.errorf(n, "alias *%s refers to no anchor", n.Value)
		return
	}
	if d.aliasDepth == 0 {
		d.aliasFrom = n
	}
	d.aliasDepth++
	fn(n.Alias)
	d.aliasDepth--
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// decodeLeaf lets yaml.v3 decode n and rewrites its error with a position.
func (d *decoder) decodeLeaf(n *yaml.Node, v reflect.Value) {
	src := n
	if n.Tag == "!secret" {
		// Only hidden in output; the value itself is a plain string.
		c := *n
		c.Tag = "!!str"
		src = &c
	}
	tmp := reflect.New(v.Type())
	if err := src.Decode(tmp.Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) || n.Tag == "!secret" {
			// A module's own message may quote the value: not a secret's.
			d.errorf(n, "want %s, got %s", kindName(v.Type()), NodeKind(n))
			return
		}
		var pe *Error
		if errors.As(err, &pe) {
			if pe.Pos.File == "" {
				pe = &Error{Pos: At(d.file, n), Msg: pe.Msg, Err: pe.Err}
			}
			d.errs.Add(pe)
			return
		}
		d.errorf(n, "%w", err)
		return
	}
	v.Set(tmp.Elem())
}

// duration reads a time.Duration: Go's notation (90s, 1m30s) or a number
// of seconds. No duration in runbook can be negative, and one that is not
// zero as written must not become zero (`timeout: 1e-12` meaning none).
func (d *decoder) duration(n *yaml.Node, v reflect.Value) {
	const want = "want a duration such as 30s or 5m"
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s, got %s", want, NodeKind(n))
		return
	}
	var dur time.Duration
	nonzero := strings.ContainsAny(n.Value, "123456789")
	if secs, err := strconv.ParseFloat(n.Value, 64); err == nil {
		switch {
		case math.IsNaN(secs) || math.IsInf(secs, 0):
			d.errorf(n, "%s, got %s", want, NodeKind(n))
			return
		case secs < 0:
			d.errorf(n, "want a duration of 0 or more, got %s", NodeKind(n))
			return
		case secs*float64(time.Second) >= math.MaxInt64:
			d.errorf(n, "%s is longer than runbook can wait (about 292 years)", NodeKind(n))
			return
		}
		dur, nonzero = time.Duration(math.Round(secs*float64(time.Second))), secs != 0
	} else if dur, err = time.ParseDuration(n.Value); err != nil {
		d.errorf(n, "%s, got %s", want, NodeKind(n))
		return
	}
	switch {
	case dur < 0:
		d.errorf(n, "want a duration of 0 or more, got %s", NodeKind(n))
	case dur == 0 && nonzero:
		d.errorf(n, "%s is less than a nanosecond: write 0, or a duration such as 30s or 5m", NodeKind(n))
	default:
		v.SetInt(int64(dur))
	}
}

// finite refuses NaN and infinities where a number is wanted: .nan
// compares false with every bound, so it would pass any range check.
func (d *decoder) finite(n *yaml.Node, v reflect.Value) {
	if f := v.Float(); math.IsNaN(f) || math.IsInf(f, 0) {
		d.errorf(n, "want a finite number, got %s", NodeKind(n))
		v.SetZero()
	}
}

func (d *decoder) slice(n *yaml.Node, v reflect.Value) {
	switch {
	case isNull(n):
		v.SetZero()
	case n.Kind == yaml.SequenceNode:
		out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, out.Index(i))
		}
		v.Set(out)
	case n.Kind == yaml.ScalarNode && strings.HasPrefix(strings.TrimSpace(n.Value), "[") && n.Style != 0:
		// A rendered template such as "{{ toJSON .groups.web }}" gives a
		// list as text: read it as one.
		var seq yaml.Node
		if err := yaml.Unmarshal([]byte(n.Value), &seq); err != nil || len(seq.Content) != 1 || seq.Content[0].Kind != yaml.SequenceNode {
			d.errorf(n, "want a list, got %s", NodeKind(n))
			return
		}
		for _, item := range seq.Content[0].Content {
			item.Line, item.Column = n.Line, n.Column
		}
		d.slice(seq.Content[0], v)
	case n.Kind == yaml.ScalarNode && v.Type().Elem().Kind() != reflect.Uint8:
		// A single value where a list is expected is a list of one, as
		// in `notify: restart nginx`.
		out := reflect.MakeSlice(v.Type(), 1, 1)
		d.value(n, out.Index(0))
		v.Set(out)
	default:
		d.errorf(n, "want a list, got %s", NodeKind(n))
	}
}

func (d *decoder) mapping(n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		v.SetZero()
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "want a mapping, got %s", NodeKind(n))
		return
	}
	out := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	seen := map[string]bool{}
	for _, kv := range d.pairs(n) {
		kn, vn := kv[0], kv[1]
		if seen[kn.Value] {
			d.errorf(kn, "key %s is given twice", Quote(kn.Value))
			continue
		}
		seen[kn.Value] = true
		key := reflect.New(v.Type().Key()).Elem()
		d.value(kn, key)
		val := reflect.New(v.Type().Elem()).Elem()
		d.value(vn, val)
		out.SetMapIndex(key, val)
	}
	v.Set(out)
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value) {
	if isNull(n) {
		n = &yaml.Node{Kind: yaml.MappingNode, Line: n.Line, Column: n.Column}
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "want a mapping, got %s", NodeKind(n))
		return
	}
	fields := Fields(v.Type())
	byName := make(map[string]Field, len(fields))
	names := make([]string, 0, len(fields))
	for _, f := range fields {
		byName[f.Name] = f
		names = append(names, f.Name)
	}
	seen := map[string]bool{}
	for _, kv := range d.pairs(n) {
		kn, vn := kv[0], kv[1]
		f, ok := byName[kn.Value]
		if !ok {
			sort.Strings(names)
			d.errorf(kn, "unknown key %s%s (known: %s)", Quote(kn.Value), Suggest(kn.Value, names), strings.Join(names, ", "))
			continue
		}
		if seen[kn.Value] {
			d.errorf(kn, "key %s is given twice", Quote(kn.Value))
			continue
		}
		seen[kn.Value] = true
		d.value(vn, v.FieldByIndex(f.Index))
	}
	for _, f := range fields {
		if f.Required && !seen[f.Name] {
			d.errorf(n, "missing required key %q", f.Name)
		}
	}
}

// Value is the value of key in mapping n as written (merge keys are not
// followed), or nil.
func Value(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// AnyScalar reports whether pred holds for a scalar under n (a mapping's
// keys included), following aliases, each node once.
func AnyScalar(n *yaml.Node, pred func(string) bool) bool {
	seen := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node) bool
	walk = func(n *yaml.Node) bool {
		if n == nil || seen[n] {
			return false
		}
		seen[n] = true
		if n.Kind == yaml.ScalarNode {
			return pred(n.Value)
		}
		if walk(n.Alias) {
			return true
		}
		for _, c := range n.Content {
			if walk(c) {
				return true
			}
		}
		return false
	}
	return walk(n)
}

// SecretScalars lists the values under n tagged !secret, and those inside
// a list or mapping tagged !secret (not a mapping's keys), following
// aliases, each node at most once as secret and once not.
func SecretScalars(n *yaml.Node) []string {
	var out []string
	seen := map[*yaml.Node]bool{} // visited, and whether as secret
	var walk func(n *yaml.Node, secret bool)
	walk = func(n *yaml.Node, secret bool) {
		if n == nil {
			return
		}
		if was, ok := seen[n]; ok && (was || !secret) {
			return
		}
		seen[n] = secret
		secret = secret || n.Tag == "!secret"
		if n.Kind == yaml.ScalarNode && secret {
			out = append(out, n.Value)
		}
		walk(n.Alias, secret)
		for i, c := range n.Content {
			walk(c, secret && (n.Kind != yaml.MappingNode || i%2 == 1))
		}
	}
	walk(n, false)
	return out
}

// Pairs lists mapping n's keys and values with merge keys resolved, as
// the decoder resolves them, for code that reads a mapping by hand.
func Pairs(file string, n *yaml.Node) ([][2]*yaml.Node, error) {
	d := newDecoder(file, Options{})
	p := d.pairs(n)
	return p, d.errs.Err()
}

// pairs lists a mapping's keys and values, with YAML merge keys
// (`<<: *defaults`) resolved: keys given explicitly win over merged ones,
// and earlier merged mappings over later ones.
func (d *decoder) pairs(n *yaml.Node) [][2]*yaml.Node {
	if p, ok := d.merged[n]; ok {
		return p
	}
	d.merged[n] = nil // a mapping that merges itself adds nothing
	var explicit, merged [][2]*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		if kn.Kind != yaml.ScalarNode || kn.Value != "<<" || kn.Tag != "!!merge" && kn.Style != 0 {
			explicit = append(explicit, [2]*yaml.Node{kn, vn})
			continue
		}
		sources := []*yaml.Node{vn}
		if vn.Kind == yaml.SequenceNode {
			sources = vn.Content
		}
		for _, src := range sources {
			from := src
			if src.Kind == yaml.AliasNode && src.Alias != nil {
				src = src.Alias
			}
			if src.Kind != yaml.MappingNode {
				d.errorf(src, "<< merges a mapping, got %s", NodeKind(src))
				continue
			}
			p := d.pairs(src)
			if d.aliasDepth == 0 {
				d.aliasFrom = from
			}
			if !d.spend(len(p), true) {
				break
			}
			merged = append(merged, p...)
		}
	}
	have := map[string]bool{}
	for _, kv := range explicit {
		have[kv[0].Value] = true
	}
	out := explicit
	for _, kv := range merged {
		if !have[kv[0].Value] {
			have[kv[0].Value] = true
			out = append(out, kv)
		}
	}
	d.merged[n] = out
	return out
}

// Field describes one key a struct accepts, from its tags:
// `yaml:"name"`, `required:"true"` and `doc:"what it is for"`.
type Field struct {
	Name     string
	Index    []int
	Type     reflect.Type
	Required bool
	Doc      string
}

// Fields lists the keys struct type t accepts, following inline structs.
func Fields(t reflect.Type) []Field {
	var out []Field
	for i := range t.NumField() {
		sf := t.Field(i)
		tag := sf.Tag.Get("yaml")
		name, opts, _ := strings.Cut(tag, ",")
		if name == "-" || !sf.IsExported() && !sf.Anonymous {
			continue
		}
		if strings.Contains(opts, "inline") && sf.Type.Kind() == reflect.Struct {
			for _, f := range Fields(sf.Type) {
				f.Index = append([]int{i}, f.Index...)
				out = append(out, f)
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(sf.Name)
		}
		out = append(out, Field{
			Name:     name,
			Index:    []int{i},
			Type:     sf.Type,
			Required: sf.Tag.Get("required") == "true",
			Doc:      sf.Tag.Get("doc"),
		})
	}
	return out
}

// NodeKind says in words what n is for an error message: "a mapping", "a
// list", "a secret value", or the start of its value (see Quote).
func NodeKind(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.AliasNode && n.Alias != nil:
		return NodeKind(n.Alias)
	case n.Tag == "!secret":
		return "a secret value"
	case n.Kind == yaml.MappingNode:
		return "a mapping"
	case n.Kind == yaml.SequenceNode:
		return "a list"
	case n.Kind == yaml.ScalarNode:
		return Quote(n.Value)
	}
	return "something else"
}

// kindName says in words what a value of type t looks like in YAML.
func kindName(t reflect.Type) string {
	if t == durationType {
		return "a duration such as 30s"
	}
	if t.Name() != "" && t.PkgPath() != "" && reflect.PointerTo(t).Implements(unmarshaler) {
		return "a " + strings.ToLower(t.Name())
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return "a whole number"
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number of 0 or more"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}
