package decode

import (
	"bytes"
	"errors"
	"io"
	"math"
	"slices"

	"gopkg.in/yaml.v3"
)

// Parse reads data, the content of file, as one YAML document, and checks
// what decoding one value at a time cannot see: a second document (which
// would be ignored), tags runbook does not know (whose meaning would be
// lost), and aliases that multiply the file (an alias bomb). An empty file
// gives a node of Kind 0.
func Parse(file string, data []byte) (*yaml.Node, error) {
	return ParseAllowing(file, data)
}

// ParseAllowing is Parse for a file that may also hold the given tags,
// such as a vars file's !encrypted values.
func ParseAllowing(file string, data []byte, tags ...string) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &yaml.Node{}, nil
		}
		return nil, SyntaxError(file, err)
	}
	var errs List
	for {
		var next yaml.Node
		err := dec.Decode(&next)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs.Add(SyntaxError(file, err))
			break
		}
		if len(next.Content) == 1 && isNull(next.Content[0]) && next.Content[0].Tag == "!!null" && next.Content[0].Value == "" {
			continue // a stray `---` with nothing after it
		}
		errs.Add(Errorf(At(file, &next), "a second YAML document starts here, and only the first is read: remove this `---` and what follows, or move it to a file of its own"))
		break
	}
	checkTags(file, &doc, tags, &errs)
	if errs.Len() == 0 {
		errs.Add(checkAliases(file, &doc))
	}
	return &doc, errs.Err()
}

// knownTags are the tags yaml.v3 resolves, in their short form, and
// runbook's own !secret. Any other tag would be dropped silently when
// decoding (`!vault abc` read as "abc").
var knownTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!map": true, "!!seq": true, "!!binary": true, "!!timestamp": true, "!!merge": true,
	"!secret": true,
}

func checkTags(file string, n *yaml.Node, allowed []string, errs *List) {
	if n.Tag != "" && !knownTags[n.Tag] && !slices.Contains(allowed, n.Tag) {
		errs.Add(Errorf(At(file, n), "unknown YAML tag %s%s runbook knows !secret (a value never shown) and YAML's own (!!str, !!int, !!float, !!bool, !!null, !!map, !!seq, !!binary, !!timestamp); remove the tag or quote the value", Quote(n.Tag), tagHint(n.Tag)))
	}
	for _, c := range n.Content {
		checkTags(file, c, allowed, errs)
	}
}

// EncryptedTag marks a value of a vars file encrypted with age (see
// internal/agevars); only vars files may hold one.
const EncryptedTag = "!encrypted"

func tagHint(tag string) string {
	if tag == EncryptedTag {
		return ": an !encrypted value belongs in a vars file (vars_files, -e @FILE, group_vars/, host_vars/), which runbook decrypts as it reads it;"
	}
	if s := Suggest(tag, []string{"!secret"}); s != "" {
		return s
	}
	return ":"
}

// aliasRatio is how many times its own size a file may grow through
// aliases, when that is more than MaxAliasValues: hosts that each merge
// shared defaults grow a large inventory a few times over.
const aliasRatio = 10

// checkAliases refuses a document that aliases expand beyond
// max(MaxAliasValues, aliasRatio × its own size). Sizes are computed once
// per node, so an alias bomb costs no more to measure than to read.
func checkAliases(file string, doc *yaml.Node) error {
	literal, aliases := countLiteral(doc)
	if aliases == 0 {
		return nil
	}
	s := sizer{d: newDecoder(file, Options{}), size: map[*yaml.Node]int{}}
	s.d.budget = math.MaxInt
	allowed := max(MaxAliasValues, aliasRatio*literal)
	if s.of(doc)-literal <= allowed {
		return nil
	}
	// Say where: the alias, in reading order, at which the values added
	// through aliases pass the limit.
	added := 0
	var at *yaml.Node
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if at != nil {
			return
		}
		if n.Kind == yaml.AliasNode {
			if added = capped(added + s.of(n)); added > allowed {
				at = n
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(doc)
	if at == nil {
		return Errorf(At(file, doc), "aliases expand this file to more than %d values", allowed)
	}
	return Errorf(At(file, at), "*%s and the aliases before it expand to more than %d values: an anchor whose value repeats aliases multiplies them; write the values out, or nest fewer aliases", at.Value, allowed)
}

// sizer measures how many values a node stands for once aliases are
// followed and merge keys resolved (as the decoder resolves them).
type sizer struct {
	d    *decoder
	size map[*yaml.Node]int
}

// maxSize bounds sizes so that adding two never overflows.
const maxSize = 1 << 40

func capped(n int) int { return min(n, maxSize) }

func (s *sizer) of(n *yaml.Node) int {
	if v, ok := s.size[n]; ok {
		return v
	}
	s.size[n] = 0 // an anchor inside its own value adds nothing
	total := 1
	switch n.Kind {
	case yaml.AliasNode:
		total = 0
		if n.Alias != nil {
			total = s.of(n.Alias)
		}
	case yaml.MappingNode:
		for _, kv := range s.d.pairs(n) {
			total = capped(total + s.of(kv[0]) + s.of(kv[1]))
		}
	default:
		for _, c := range n.Content {
			total = capped(total + s.of(c))
		}
	}
	s.size[n] = total
	return total
}

// countLiteral counts the nodes written in the file, and the aliases
// among them.
func countLiteral(n *yaml.Node) (nodes, aliases int) {
	nodes = 1
	if n.Kind == yaml.AliasNode {
		aliases = 1
	}
	for _, c := range n.Content {
		cn, ca := countLiteral(c)
		nodes, aliases = nodes+cn, aliases+ca
	}
	return nodes, aliases
}
