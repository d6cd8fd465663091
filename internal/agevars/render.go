package agevars

import (
	"bytes"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// entry is a top-level pair of a file being rewritten.
type entry struct {
	key, val *yaml.Node
	// changed: write it anew, as text when set, else encoded from key
	// and val. An unchanged entry keeps the lines it had, byte for byte.
	changed bool
	text    string
}

// segment is where a top-level entry of the file as read is written:
// lines are 0-based indexes into the file's lines.
type segment struct {
	head, first, last int // head: its comment lines above; [first, last] its key and value
}

// render writes the file's entries as es: unchanged entries, the comments
// and blank lines around them, and everything outside the top mapping
// keep their text byte for byte, so that a diff shows only what changed.
// New entries go before the next original one (the header at the top),
// or at the end. Where the file's layout does not allow that (a flow
// mapping, an indented one), or the result would not read back as es,
// the whole file is written anew from its nodes.
func (f *File) render(es []entry) ([]byte, error) {
	target := f.targetDoc(es)
	if out, ok := f.splice(es); ok {
		if doc, err := decode.ParseAllowing(f.Path, out, Tag); err == nil && same(doc, target) {
			return out, nil
		}
	}
	return encode(target)
}

// targetDoc is the document es make, with the file's own comments.
func (f *File) targetDoc(es []entry) *yaml.Node {
	top := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	if t := f.top(); t != nil {
		c := *t
		c.Content = nil
		top = &c
	}
	for _, e := range es {
		top.Content = append(top.Content, e.key, e.val)
	}
	doc := *f.doc
	doc.Content = []*yaml.Node{top}
	return &doc
}

func (f *File) splice(es []entry) ([]byte, bool) {
	lines := strings.SplitAfter(string(f.data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] += "\n"
	}
	segs, ok := f.segments(lines)
	if !ok {
		return nil, false
	}
	var b bytes.Buffer
	write := func(from, to int) { // lines [from, to)
		for _, l := range lines[from:to] {
			b.WriteString(l)
		}
	}
	newText := func(e entry) bool {
		text := e.text
		if text == "" {
			enc, err := encodeEntry(e.key, e.val)
			if err != nil {
				return false
			}
			text = string(enc)
		}
		if !strings.HasSuffix(text, "\n") {
			text += "\n"
		}
		b.WriteString(text)
		return true
	}
	// Original entries in their order; es never reorders them.
	origs := f.pairs()
	next := 0 // the next original entry to write
	// gapEnd is where the lines after original entry j end: the head of
	// the next one, or the end of the file.
	gapEnd := func(j int) int {
		if j+1 < len(origs) {
			return segs[j+1].head
		}
		return len(lines)
	}
	pre := len(lines)
	if len(origs) > 0 {
		pre = segs[0].head
	}
	write(0, pre)
	for _, e := range es {
		j := -1
		for k := next; k < len(origs); k++ {
			if origs[k][0] == e.key {
				j = k
				break
			}
		}
		if j < 0 { // a new entry: before the next original one
			if next >= len(origs) && b.Len() > 0 && !bytes.HasSuffix(b.Bytes(), []byte("\n")) {
				b.WriteString("\n")
			}
			if !newText(e) {
				return nil, false
			}
			continue
		}
		for ; next < j; next++ { // removed entries: their comments stay
			write(segs[next].last+1, gapEnd(next))
		}
		s := segs[j]
		write(s.head, s.first)
		if e.changed {
			if !newText(e) {
				return nil, false
			}
		} else {
			write(s.first, s.last+1)
		}
		write(s.last+1, gapEnd(j))
		next = j + 1
	}
	for ; next < len(origs); next++ {
		write(segs[next].last+1, gapEnd(next))
	}
	return b.Bytes(), true
}

// segments places the top-level entries in lines, when the file is a
// block mapping whose keys start lines at column 1.
func (f *File) segments(lines []string) ([]segment, bool) {
	top := f.top()
	if top == nil {
		return nil, len(f.doc.Content) == 0 || isNull(f.doc.Content[0])
	}
	if top.Style&yaml.FlowStyle != 0 {
		return nil, false
	}
	pairs := f.pairs()
	segs := make([]segment, len(pairs))
	for i, kv := range pairs {
		k := kv[0]
		if k.Column != 1 || k.Line < 1 || k.Line > len(lines) || i > 0 && k.Line <= pairs[i-1][0].Line {
			return nil, false
		}
		segs[i].first = k.Line - 1
	}
	for i := range segs {
		end := len(lines)
		if i+1 < len(segs) {
			end = segs[i+1].first
		}
		// A value ends at its last line that is neither blank nor a
		// comment at column 1: what follows belongs to the next key (or
		// ends the file). A block scalar's lines are indented, so a
		// column-1 comment cannot be one of them.
		last := end - 1
		for last > segs[i].first && (strings.TrimSpace(lines[last]) == "" || strings.HasPrefix(lines[last], "#")) {
			last--
		}
		segs[i].last = last
	}
	for i := range segs {
		floor := 0
		if i > 0 {
			floor = segs[i-1].last + 1
		}
		h := segs[i].first
		for h > floor && strings.HasPrefix(lines[h-1], "#") {
			h--
		}
		segs[i].head = h
	}
	return segs, true
}

// encodeEntry writes one top-level pair as YAML text.
func encodeEntry(k, v *yaml.Node) ([]byte, error) {
	kc, vc := *k, *v
	kc.HeadComment, kc.FootComment = "", ""
	vc.HeadComment, vc.FootComment = "", ""
	return encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{
		{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{&kc, &vc}},
	}})
}

func encode(doc *yaml.Node) ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// same reports whether a and b hold the same values with the same tags,
// whatever their layout and comments.
func same(a, b *yaml.Node) bool {
	if a == nil || b == nil {
		return a == b
	}
	a, b = unwrapDoc(a), unwrapDoc(b)
	if a == nil || b == nil {
		return a == b
	}
	if a.Kind != b.Kind || a.ShortTag() != b.ShortTag() {
		return false
	}
	switch a.Kind {
	case yaml.ScalarNode, yaml.AliasNode:
		return a.Value == b.Value
	}
	if len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !same(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

// unwrapDoc is a document's content (nil when empty or null).
func unwrapDoc(n *yaml.Node) *yaml.Node {
	if n.Kind != yaml.DocumentNode && n.Kind != 0 {
		return n
	}
	if len(n.Content) == 0 || isNull(n.Content[0]) {
		return nil
	}
	return n.Content[0]
}
