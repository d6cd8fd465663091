package agevars

import (
	"errors"
	"fmt"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// clone copies n deeply (an alias still points where it did).
func clone(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, x := range n.Content {
		c.Content[i] = clone(x)
	}
	return &c
}

// opener returns a decrypter for f's values with the user's keys.
func (f *File) opener(ids *Identities) *opener {
	return &opener{file: f.Path, recipients: f.Recipients, ids: ids}
}

// plainValue is v decrypted: its !encrypted values as strings, and v
// tagged !secret, as a plain vars file says that a value is secret.
func (d *opener) plainValue(name string, v *yaml.Node) (*yaml.Node, error) {
	out := clone(v)
	var errs decode.List
	err := walk(out, name, false, func(path string, leaf *yaml.Node, _ bool) error {
		if leaf.Tag != Tag {
			return nil
		}
		plain, err := d.open(path, leaf)
		if err != nil {
			if err != errStop {
				errs.Add(err)
			}
			return nil
		}
		*leaf = *str(plain)
		leaf.Line, leaf.Column = 0, 0
		return nil
	})
	errs.Add(err)
	out.Tag = "!secret"
	if out.Kind != yaml.ScalarNode {
		out.Style &^= yaml.FlowStyle // a block scalar cannot be inside a flow collection
	}
	return out, errs.Err()
}

// Plain returns the file with its values decrypted and tagged !secret:
// what `runbook secrets decrypt` prints and `edit` gives the editor. Read
// as a plain vars file, it means what the encrypted one does.
func (f *File) Plain(ids *Identities) ([]byte, error) {
	es, _, err := f.plainEntries(ids)
	if err != nil {
		return nil, err
	}
	return f.render(es)
}

// plainEntries are f's entries decrypted, with the plain value of each
// name that held an encrypted one.
func (f *File) plainEntries(ids *Identities) ([]entry, map[string]*yaml.Node, error) {
	d := f.opener(ids)
	var errs decode.List
	var es []entry
	plain := map[string]*yaml.Node{}
	for _, kv := range f.pairs() {
		e := entry{key: kv[0], val: kv[1]}
		if kv[0].Value != HeaderKey && hasEncrypted(kv[1]) {
			v, err := d.plainValue(kv[0].Value, kv[1])
			errs.Add(err)
			e.val, e.changed = v, true
			plain[kv[0].Value] = v
		}
		es = append(es, e)
	}
	return es, plain, errs.Err()
}

// sealer encrypts values to recipients, keeping the ciphertext of those
// whose plaintext did not change.
type sealer struct {
	rs    []*Recipient
	fresh bool // encrypt unchanged values anew too (the recipients changed)
}

// seal encrypts the strings under n (and every scalar but null under a
// !secret tag), leaving !encrypted values, other scalars and keys as
// they are. oldPlain and oldSealed are the value it replaces, decrypted
// and as written: a scalar equal to its old plaintext is written as it
// was (the same ciphertext, or left plain), so that its lines do not
// change.
func (s *sealer) seal(n, oldPlain, oldSealed *yaml.Node, secret bool) (*yaml.Node, error) {
	secret = secret || n.Tag == "!secret"
	switch n.Kind {
	case yaml.ScalarNode:
		if oldPlain != nil && oldSealed != nil && oldPlain.Kind == yaml.ScalarNode && oldPlain.Value == n.Value && oldSealed.Kind == yaml.ScalarNode {
			// Unchanged: encrypted or not, as it was.
			if oldSealed.Tag != Tag || !s.fresh {
				return oldSealed, nil
			}
			return s.encrypt(n)
		}
		if n.Tag == Tag || !(n.ShortTag() == "!!str" || secret && !isNull(n)) {
			return n, nil
		}
		return s.encrypt(n)
	case yaml.MappingNode, yaml.SequenceNode:
		c := *n
		c.Content = make([]*yaml.Node, len(n.Content))
		if c.Tag == "!secret" {
			c.Tag = ""
		}
		for i, x := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				c.Content[i] = x
				continue
			}
			var op, os *yaml.Node
			if n.Kind == yaml.MappingNode {
				op, os = lookup(oldPlain, n.Content[i-1].Value), lookup(oldSealed, n.Content[i-1].Value)
			} else {
				op, os = item(oldPlain, i), item(oldSealed, i)
			}
			v, err := s.seal(x, op, os, secret)
			if err != nil {
				return nil, err
			}
			c.Content[i] = v
		}
		if hasEncrypted(&c) {
			c.Style &^= yaml.FlowStyle
		}
		return &c, nil
	}
	return n, nil
}

func (s *sealer) encrypt(n *yaml.Node) (*yaml.Node, error) {
	ct, err := encrypt(n.Value, s.rs)
	if err != nil {
		return nil, err
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: Tag, Value: ct, Style: yaml.LiteralStyle, LineComment: n.LineComment}, nil
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func item(s *yaml.Node, i int) *yaml.Node {
	if s == nil || s.Kind != yaml.SequenceNode || i >= len(s.Content) {
		return nil
	}
	return s.Content[i]
}

// withHeader returns es with a header naming rs: the file's own,
// rewritten when its recipients changed, or a new one at the top.
func withHeader(es []entry, had, rs []*Recipient) []entry {
	for i, e := range es {
		if e.key.Value == HeaderKey {
			if !sameRecipients(had, rs) {
				es[i].val, es[i].changed = headerNode(rs), true
			}
			return es
		}
	}
	h := entry{key: str(HeaderKey), val: headerNode(rs), changed: true}
	return append([]entry{h}, es...)
}

func sameRecipients(a, b []*Recipient) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Same(b[i]) {
			return false
		}
	}
	return true
}

// Encrypt returns the file with every string value encrypted to its
// header's recipients, or to rs when it has no header (a header naming
// them is added), and how many names changed. Encrypted values stay as
// they are: encrypting twice changes nothing.
func (f *File) Encrypt(rs []*Recipient) ([]byte, int, error) {
	if f.Recipients != nil {
		if len(rs) > 0 && !sameRecipients(rs, f.Recipients) {
			return nil, 0, fmt.Errorf("%s already names its recipients (%s): change them with `runbook secrets rekey %s --add KEY` or `--remove KEY`", f.Path, describe(f.Recipients), f.Path)
		}
		rs = f.Recipients
	}
	if len(rs) == 0 {
		return nil, 0, f.noRecipients()
	}
	s := &sealer{rs: rs}
	var es []entry
	n := 0
	for _, kv := range f.pairs() {
		e := entry{key: kv[0], val: kv[1]}
		if kv[0].Value != HeaderKey {
			v, err := s.seal(kv[1], nil, nil, false)
			if err != nil {
				return nil, 0, err
			}
			if v != kv[1] && !same(v, kv[1]) {
				e.val, e.changed = v, true
				n++
			}
		}
		es = append(es, e)
	}
	out, err := f.render(withHeader(es, f.Recipients, rs))
	return out, n, err
}

func (f *File) noRecipients() error {
	return fmt.Errorf("%s names no recipients: make an age key with `runbook secrets init` (its public key is then the default), or name them: --recipient age1... or --recipient ~/.ssh/id_ed25519.pub", f.Path)
}

// Rekey returns the file with its recipients changed (add, then remove
// those that remove names) and every encrypted value encrypted anew to
// them: a recipient removed can no longer read new values, but could read
// the old ones, which stay in version control: change those secrets.
func (f *File) Rekey(ids *Identities, add []*Recipient, remove []string) ([]byte, []*Recipient, error) {
	rs := append([]*Recipient(nil), f.Recipients...)
	for _, r := range add {
		if !containsSame(rs, r) {
			rs = append(rs, r)
		}
	}
	for _, arg := range remove {
		kept := rs[:0:0]
		for _, r := range rs {
			if !r.Matches(arg) {
				kept = append(kept, r)
			}
		}
		if len(kept) == len(rs) {
			return nil, nil, fmt.Errorf("%s has no recipient %s: its recipients are %s", f.Path, decode.Quote(arg), describe(rs))
		}
		rs = kept
	}
	if len(rs) == 0 {
		return nil, nil, fmt.Errorf("%s would have no recipient left, and nobody could read it: add one before removing the last", f.Path)
	}
	es, _, err := f.plainEntries(ids)
	if err != nil {
		return nil, nil, err
	}
	s := &sealer{rs: rs}
	for i, e := range es {
		if !e.changed {
			continue
		}
		orig := f.pairs()[i][1]
		// Only what was encrypted is encrypted again: a plain value in the
		// file stays plain.
		v := clone(orig)
		plain := e.val
		err := walk(v, "", false, func(path string, leaf *yaml.Node, _ bool) error {
			if leaf.Tag != Tag {
				return nil
			}
			p := at(plain, path)
			ct, err := encrypt(p.Value, s.rs)
			if err != nil {
				return err
			}
			leaf.Value = ct
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		es[i].val = v
	}
	out, err := f.render(withHeader(es, f.Recipients, rs))
	return out, rs, err
}

func containsSame(rs []*Recipient, r *Recipient) bool {
	for _, x := range rs {
		if x.Same(r) {
			return true
		}
	}
	return false
}

// at finds the node at path (as walk names paths) under n.
func at(n *yaml.Node, path string) *yaml.Node {
	for _, p := range strings.Split(strings.TrimPrefix(path, "/"), "/") {
		if p == "" {
			continue
		}
		switch n.Kind {
		case yaml.MappingNode:
			n = lookup(n, p)
		case yaml.SequenceNode:
			var i int
			fmt.Sscan(p, &i)
			n = item(n, i)
		}
		if n == nil {
			return &yaml.Node{}
		}
	}
	return n
}

// ErrUnchanged: Set was given the value the file already holds.
var ErrUnchanged = errors.New("unchanged")

// Set returns the file with the value at path (names from the top, as in
// consul/gossip_key) set to value, encrypted to the file's recipients (or
// to rs, for a file without a header, which gets one). Mappings on the
// way are made as needed; every other value keeps its text. Setting the
// value a name already holds returns ErrUnchanged, when the user's keys
// can tell.
func (f *File) Set(ids *Identities, path []string, value string, rs []*Recipient) ([]byte, error) {
	if f.Recipients != nil {
		rs = f.Recipients
	}
	if len(rs) == 0 {
		return nil, f.noRecipients()
	}
	if len(path) == 0 || path[0] == HeaderKey {
		return nil, fmt.Errorf("set %s: %s is the file's header", f.Path, HeaderKey)
	}
	ct, err := encrypt(value, rs)
	if err != nil {
		return nil, err
	}
	leaf := &yaml.Node{Kind: yaml.ScalarNode, Tag: Tag, Value: ct, Style: yaml.LiteralStyle}
	var es []entry
	found := false
	for _, kv := range f.pairs() {
		e := entry{key: kv[0], val: kv[1]}
		if kv[0].Value == path[0] {
			found = true
			if old := at(kv[1], "/"+strings.Join(path[1:], "/")); old.Tag == Tag && ids != nil {
				if plain, err := decrypt(old.Value, ids); err == nil && plain == value {
					return nil, ErrUnchanged
				}
			}
			v, err := put(clone(kv[1]), path[1:], leaf, f.Path, path)
			if err != nil {
				return nil, err
			}
			e.val, e.changed = v, true
		}
		es = append(es, e)
	}
	if !found {
		v, err := put(&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, path[1:], leaf, f.Path, path)
		if err != nil {
			return nil, err
		}
		es = append(es, entry{key: str(path[0]), val: v, changed: true})
	}
	return f.render(withHeader(es, f.Recipients, rs))
}

// put sets the value at path under n to leaf, making mappings on the way.
func put(n *yaml.Node, path []string, leaf *yaml.Node, file string, full []string) (*yaml.Node, error) {
	if len(path) == 0 {
		return leaf, nil
	}
	if isNull(n) {
		n = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	}
	if n.Kind != yaml.MappingNode {
		what := "a list"
		if n.Kind != yaml.SequenceNode {
			what = "one value"
		}
		return nil, fmt.Errorf("set %s: %s holds %s, not a mapping of names: set it whole, or give another name", file, strings.Join(full[:len(full)-len(path)], "/"), what)
	}
	n.Style &^= yaml.FlowStyle
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == path[0] {
			v, err := put(n.Content[i+1], path[1:], leaf, file, full)
			if err != nil {
				return nil, err
			}
			n.Content[i+1] = v
			return n, nil
		}
	}
	v, err := put(&yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}, path[1:], leaf, file, full)
	if err != nil {
		return nil, err
	}
	n.Content = append(n.Content, str(path[0]), v)
	return n, nil
}

// Name is a top-level name of a file and whether its value is encrypted.
type Name struct {
	Name  string
	State string // encrypted, plain, or partly encrypted
}

// Names lists the file's names, never their values.
func (f *File) Names() []Name {
	var out []Name
	for _, kv := range f.pairs() {
		if kv[0].Value == HeaderKey {
			continue
		}
		enc, plain := 0, 0
		_ = walk(kv[1], "", false, func(_ string, leaf *yaml.Node, _ bool) error {
			switch {
			case leaf.Tag == Tag:
				enc++
			case leaf.ShortTag() == "!!str" || leaf.Tag == "!secret":
				plain++
			}
			return nil
		})
		state := "plain"
		switch {
		case enc > 0 && plain > 0:
			state = "partly encrypted"
		case enc > 0:
			state = "encrypted"
		}
		out = append(out, Name{kv[0].Value, state})
	}
	return out
}
