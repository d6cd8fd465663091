package agevars

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Edit is a file decrypted for an editor.
type Edit struct {
	f      *File
	plain  map[string]*yaml.Node // the decrypted value of each name that had one
	Buffer []byte                // what the editor gets: the file decrypted
}

// StartEdit decrypts the file for an editor.
func (f *File) StartEdit(ids *Identities) (*Edit, error) {
	es, plain, err := f.plainEntries(ids)
	if err != nil {
		return nil, err
	}
	buf, err := f.render(es)
	if err != nil {
		return nil, err
	}
	return &Edit{f: f, plain: plain, Buffer: buf}, nil
}

// Finish encrypts what the editor left: values whose plaintext did not
// change keep their text (and ciphertext) byte for byte, so the diff
// shows what was edited; new and changed strings are encrypted to the
// recipients in the edited header (all values anew when those changed),
// else to the file's, else to own (the user's age keys).
func (e *Edit) Finish(edited []byte, own []*Recipient) ([]byte, error) {
	ef, err := Parse(e.f.Path+" (as edited)", edited)
	if err != nil {
		return nil, err
	}
	ef.Path = e.f.Path
	rs := ef.Recipients
	if rs == nil {
		rs = e.f.Recipients
	}
	if rs == nil {
		rs = own
	}
	if len(rs) == 0 {
		return nil, e.f.noRecipients()
	}
	rekeyed := e.f.Recipients != nil && !sameRecipients(rs, e.f.Recipients)
	s := &sealer{rs: rs, fresh: rekeyed}
	var es []entry
	for _, kv := range ef.pairs() {
		k, v := kv[0], kv[1]
		en := entry{key: k, val: v}
		if k.Value == HeaderKey {
			es = append(es, en)
			continue
		}
		oldPlain, oldSealed := e.plain[k.Value], lookup(e.f.top(), k.Value)
		if !rekeyed && oldPlain != nil && sameLoose(v, oldPlain) {
			// Unchanged: the file's own text for it.
			en.val, en.changed, en.text = oldSealed, true, e.f.entryText(k.Value)
			es = append(es, en)
			continue
		}
		sealed, err := s.seal(v, oldPlain, oldSealed, false)
		if err != nil {
			return nil, err
		}
		if !same(sealed, v) {
			en.val, en.changed = sealed, true
		}
		es = append(es, en)
	}
	return ef.render(withHeader(es, ef.Recipients, rs))
}

// sameLoose is same, with a !secret tag read as the tag it replaces: the
// editor may drop it from a value it did not change.
func sameLoose(a, b *yaml.Node) bool {
	return same(untagSecret(a), untagSecret(b))
}

func untagSecret(n *yaml.Node) *yaml.Node {
	c := clone(n)
	var fix func(*yaml.Node)
	fix = func(n *yaml.Node) {
		if n.Tag == "!secret" {
			switch n.Kind {
			case yaml.ScalarNode:
				n.Tag = "!!str"
			case yaml.MappingNode:
				n.Tag = "!!map"
			case yaml.SequenceNode:
				n.Tag = "!!seq"
			}
		}
		for _, x := range n.Content {
			fix(x)
		}
	}
	fix(c)
	return c
}

// entryText is the text of a top-level entry as read (its key's line to
// its value's last), or "" when the file's layout does not tell.
func (f *File) entryText(key string) string {
	lines := strings.SplitAfter(string(f.data), "\n")
	segs, ok := f.segments(lines)
	if !ok {
		return ""
	}
	for i, kv := range f.pairs() {
		if kv[0].Value == key {
			return strings.Join(lines[segs[i].first:segs[i].last+1], "")
		}
	}
	return ""
}
