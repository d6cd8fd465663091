// Package agevars reads and writes vars files whose values are encrypted
// one by one with age (filippo.io/age), their keys left readable so that
// a diff shows which value changed:
//
//	runbook_encrypted:
//	  recipients:
//	    - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
//	    - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI... alice@laptop
//	consul_gossip_key: !encrypted |
//	  -----BEGIN AGE ENCRYPTED FILE-----
//	  YWdlLWVuY3J5cHRpb24ub3JnL3YxCi0+IFgyNTUxOSBC...
//	  -----END AGE ENCRYPTED FILE-----
//
// Each !encrypted value is a string, armored as `age -a` writes it, so
// `age -d` opens it too. The header names the recipients that commands
// encrypt new values to, and that messages name.
package agevars

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// Tag marks an encrypted value; HeaderKey is the top-level key of the
// header. Both are reserved in vars files.
const (
	Tag       = decode.EncryptedTag
	HeaderKey = "runbook_encrypted"
)

// File is a vars file read to be changed by the secrets commands.
type File struct {
	Path string
	data []byte
	doc  *yaml.Node // DocumentNode; its Content is empty for an empty file
	// Recipients are the header's; nil when the file has none.
	Recipients []*Recipient
}

// Parse reads data, the content of the vars file path.
func Parse(path string, data []byte) (*File, error) {
	doc, err := decode.ParseAllowing(path, data, Tag)
	if err != nil {
		return nil, err
	}
	if doc.Kind == 0 {
		doc = &yaml.Node{Kind: yaml.DocumentNode}
	}
	f := &File{Path: path, data: data, doc: doc}
	top := f.top()
	if top == nil && len(doc.Content) > 0 && !isNull(doc.Content[0]) {
		return nil, decode.Errorf(decode.At(path, doc.Content[0]), "want a mapping of names to values, got %s", decode.NodeKind(doc.Content[0]))
	}
	if top != nil {
		if h := f.headerValue(); h != nil {
			if f.Recipients, err = parseHeader(path, h); err != nil {
				return nil, err
			}
		}
	}
	return f, nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// top is the file's mapping of names to values, nil when it has none.
func (f *File) top() *yaml.Node {
	if len(f.doc.Content) == 1 && f.doc.Content[0].Kind == yaml.MappingNode {
		return f.doc.Content[0]
	}
	return nil
}

// pairs lists the top-level keys and values, the header included.
func (f *File) pairs() [][2]*yaml.Node {
	top := f.top()
	if top == nil {
		return nil
	}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		out = append(out, [2]*yaml.Node{top.Content[i], top.Content[i+1]})
	}
	return out
}

func (f *File) headerValue() *yaml.Node {
	for _, kv := range f.pairs() {
		if kv[0].Value == HeaderKey {
			return kv[1]
		}
	}
	return nil
}

// parseHeader reads runbook_encrypted: {recipients: [...]}.
func parseHeader(file string, h *yaml.Node) ([]*Recipient, error) {
	if h.Kind != yaml.MappingNode {
		return nil, decode.Errorf(decode.At(file, h), "%s: want a mapping with recipients: [keys], got %s", HeaderKey, decode.NodeKind(h))
	}
	var list *yaml.Node
	var errs decode.List
	for i := 0; i+1 < len(h.Content); i += 2 {
		k, v := h.Content[i], h.Content[i+1]
		if k.Value != "recipients" {
			errs.Add(decode.Errorf(decode.At(file, k), "%s: unknown key %s: the header holds recipients only", HeaderKey, decode.Quote(k.Value)))
			continue
		}
		list = v
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil, decode.Errorf(decode.At(file, h), "%s: want recipients: a list of age public keys (age1...) or SSH public keys", HeaderKey)
	}
	var out []*Recipient
	for _, n := range list.Content {
		if n.Kind != yaml.ScalarNode {
			errs.Add(decode.Errorf(decode.At(file, n), "%s: a recipient is one key, got %s", HeaderKey, decode.NodeKind(n)))
			continue
		}
		r, err := ParseRecipient(n.Value)
		if err != nil {
			errs.Add(decode.Errorf(decode.At(file, n), "%s: %w", HeaderKey, err))
			continue
		}
		out = append(out, r)
	}
	return out, errs.Err()
}

// headerNode is the header's value for recipients rs.
func headerNode(rs []*Recipient) *yaml.Node {
	list := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for _, r := range rs {
		list.Content = append(list.Content, str(r.Text))
	}
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{str("recipients"), list}}
}

func str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if strings.Contains(s, "\n") {
		n.Style = yaml.LiteralStyle
	}
	return n
}

// walk calls fn on every scalar value under n (not a mapping's keys) with
// its path from the top (names joined by /, list items by index), and
// whether a !secret tag is on it or above it. Aliases are not followed:
// what they point to is visited where it is written.
func walk(n *yaml.Node, path string, secret bool, fn func(path string, leaf *yaml.Node, secret bool) error) error {
	secret = secret || n.Tag == "!secret"
	switch n.Kind {
	case yaml.ScalarNode:
		return fn(path, n, secret)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := walk(n.Content[i+1], path+"/"+n.Content[i].Value, secret, fn); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := walk(c, fmt.Sprintf("%s/%d", path, i), secret, fn); err != nil {
				return err
			}
		}
	}
	return nil
}

// errStop ends a walk early.
var errStop = errors.New("stop")

// hasEncrypted reports whether n holds an !encrypted value.
func hasEncrypted(n *yaml.Node) bool {
	return walk(n, "", false, func(_ string, leaf *yaml.Node, _ bool) error {
		if leaf.Tag == Tag {
			return errStop
		}
		return nil
	}) != nil
}

// Text returns the file's content as read.
func (f *File) Text() []byte { return bytes.Clone(f.data) }
