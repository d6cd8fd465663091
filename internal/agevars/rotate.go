package agevars

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// PreviousSuffix names where Rotate keeps a retired value, beside it:
// consul/gossip_key's goes to consul/gossip_key_previous.
const PreviousSuffix = "_previous"

// Retired is a value Rotate moved: Name's value is now under Previous.
type Retired struct {
	Name, Previous string
}

// Rotate retires the values of names in the secrets file at path, under
// the file's lock, in one atomic write (see File.Rotate): the first step
// of a rotation, after which the next run makes each anew. A run making
// a secret takes the same lock, so neither loses the other's change.
func Rotate(path string, names []string) ([]Retired, error) {
	unlock, err := Lock(path)
	if err != nil {
		return nil, err
	}
	defer unlock()
	f, err := Read(path)
	if err != nil {
		return nil, err
	}
	out, retired, err := f.Rotate(names)
	if err != nil {
		return nil, err
	}
	if err := WriteFile(path, out); err != nil {
		return nil, err
	}
	return retired, nil
}

// RotateHeld is Rotate of the names the file holds; absent are those
// it does not hold yet (a first run makes them: nothing to retire). A
// runbook's `rotate:` retires with it when its run starts.
func RotateHeld(path string, names []string) (retired []Retired, absent []string, err error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, names, nil // no secret made yet
	}
	unlock, err := Lock(path)
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	f, err := Read(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, names, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var held []string
	for _, name := range names {
		if f.holds(name) {
			held = append(held, name)
		} else {
			absent = append(absent, name)
		}
	}
	if len(held) == 0 {
		return nil, absent, nil
	}
	out, retired, err := f.Rotate(held)
	if err != nil {
		return nil, nil, err
	}
	if err := WriteFile(path, out); err != nil {
		return nil, nil, err
	}
	return retired, absent, nil
}

// holds says whether the file has a value (or a mapping) at name.
func (f *File) holds(name string) bool {
	n := f.top()
	for _, p := range strings.Split(name, "/") {
		if n = lookup(n, p); n == nil {
			return false
		}
	}
	return !isNull(n)
}

// Rotate returns the file with the value of each name (a/b: b inside
// mapping a; for a certificate, the mapping holding its key and cert)
// moved to the sibling name_previous, replacing what that held. The
// value moves as written, still encrypted: nothing is decrypted, so no
// key is needed, and every other value keeps its text. A generate-once
// secret (Store) missing from the file is made anew by the next run;
// name_previous is kept for an operator to put back by hand if the
// rollout of the new one fails.
func (f *File) Rotate(names []string) ([]byte, []Retired, error) {
	if len(names) == 0 {
		return nil, nil, errors.New("rotate: name the secrets to rotate")
	}
	// Changed on a parse of its own, so that f stays as read; render
	// places the entries by the key nodes of the file it is called on.
	g, err := Parse(f.Path, f.data)
	if err != nil {
		return nil, nil, err
	}
	top := g.top()
	changed := map[*yaml.Node]bool{} // top-level keys whose entry is written anew
	dropped := map[*yaml.Node]bool{} // top-level keys whose entry goes
	seen := map[string]bool{}
	var retired []Retired
	for _, name := range names {
		if err := g.checkRotate(name, seen); err != nil {
			return nil, nil, err
		}
		parts := strings.Split(name, "/")
		last := parts[len(parts)-1]
		parent, topKey := top, (*yaml.Node)(nil)
		for _, p := range parts[:len(parts)-1] {
			i := index(parent, p, dropped)
			if i < 0 {
				parent = nil
				break
			}
			if parent == top {
				topKey = parent.Content[i]
			}
			parent = parent.Content[i+1]
		}
		i := index(parent, last, dropped)
		if i < 0 || isNull(parent.Content[i+1]) {
			return nil, nil, g.missing(name, parts, dropped)
		}
		if err := halfOfCert(name, parts, parent); err != nil {
			return nil, nil, err
		}
		prev := last + PreviousSuffix
		val := parent.Content[i+1]
		j := index(parent, prev, dropped)
		switch {
		case parent == top && j >= 0:
			top.Content[j+1] = val
			changed[top.Content[j]] = true
			dropped[top.Content[i]] = true
		case parent == top:
			// Renamed in place: the key node is how render finds the
			// entry's lines, the comments above it included.
			top.Content[i].Value = prev
			changed[top.Content[i]] = true
		case j >= 0:
			parent.Content[j+1] = val
			parent.Content = append(parent.Content[:i:i], parent.Content[i+2:]...)
			changed[topKey] = true
		default:
			k := *parent.Content[i]
			k.Value = prev
			parent.Content[i] = &k
			changed[topKey] = true
		}
		retired = append(retired, Retired{Name: name, Previous: strings.Join(append(parts[:len(parts)-1:len(parts)-1], prev), "/")})
	}
	var es []entry
	for _, kv := range g.pairs() {
		if !dropped[kv[0]] {
			es = append(es, entry{key: kv[0], val: kv[1], changed: changed[kv[0]]})
		}
	}
	out, err := g.render(es)
	if err != nil {
		return nil, nil, fmt.Errorf("rotate in %s: %w", f.Path, err)
	}
	return out, retired, nil
}

func (f *File) checkRotate(name string, seen map[string]bool) error {
	switch {
	case checkName(name) != nil:
		return fmt.Errorf("rotate %s: %w", decode.Quote(name), checkName(name))
	case strings.SplitN(name, "/", 2)[0] == HeaderKey:
		return fmt.Errorf("rotate %s: %s is the file's header, not a secret", decode.Quote(name), HeaderKey)
	case strings.HasSuffix(name, PreviousSuffix):
		return fmt.Errorf("rotate %s: a retired value, kept to be put back by hand: rotate %s", decode.Quote(name), strings.TrimSuffix(name, PreviousSuffix))
	case seen[name]:
		return fmt.Errorf("rotate %s: named twice", decode.Quote(name))
	}
	seen[name] = true
	return nil
}

// halfOfCert refuses NAME/key or NAME/cert where NAME holds both: a new
// CA key under the old CA's certificate would sign certificates that no
// host trusts. A certificate rotates whole.
func halfOfCert(name string, parts []string, parent *yaml.Node) error {
	last := parts[len(parts)-1]
	if len(parts) < 2 || last != "key" && last != "cert" || lookup(parent, "key") == nil || lookup(parent, "cert") == nil {
		return nil
	}
	whole := strings.Join(parts[:len(parts)-1], "/")
	return fmt.Errorf("rotate %s: the %s of the certificate kept under %s: rotate %s, its key and certificate together", decode.Quote(name), last, whole, whole)
}

// missing is the error for a name the file does not hold, saying what
// the mapping it would be in does hold: names are not secret.
func (f *File) missing(name string, parts []string, dropped map[*yaml.Node]bool) error {
	msg := fmt.Sprintf("rotate %s: %s holds no value %s", decode.Quote(name), f.Path, name)
	n, at := f.top(), ""
	for _, p := range parts[:len(parts)-1] {
		i := index(n, p, dropped)
		if i < 0 {
			break
		}
		n, at = n.Content[i+1], strings.TrimPrefix(at+"/"+p, "/")
	}
	if at != "" && n.Kind == yaml.MappingNode {
		var keys []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			keys = append(keys, n.Content[i].Value)
		}
		msg += fmt.Sprintf(" (%s holds %s)", at, strings.Join(keys, ", "))
	}
	return fmt.Errorf("%s: `runbook secrets show %s` lists its names", msg, f.Path)
}

// index is where key's pair starts in mapping m, -1 when m has none (or
// is no mapping, or the pair was dropped).
func index(m *yaml.Node, key string, dropped map[*yaml.Node]bool) int {
	if m == nil || m.Kind != yaml.MappingNode {
		return -1
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && !dropped[m.Content[i]] {
			return i
		}
	}
	return -1
}

// Retired returns the value name had before its last rotation: the one
// under name_previous, or under a_previous/b when the mapping a holding
// it was rotated whole; "" when it was never rotated. It never makes
// anything: a rotation's last step (deleting the old token, removing the
// old key) reads what to delete with it.
func (s *Store) Retired(name string) (string, error) {
	if !secretName.MatchString(name) {
		return "", fmt.Errorf("retired %s: a name is a variable name (letters, digits and _, starting with a letter or _), then /names inside it", decode.Quote(name))
	}
	if strings.HasSuffix(name, PreviousSuffix) {
		return "", fmt.Errorf("retired %s: name the secret, not its retired value: retired %s", decode.Quote(name), decode.Quote(strings.TrimSuffix(name, PreviousSuffix)))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		ids, err := LoadIdentities()
		if err != nil {
			return "", err
		}
		s.ids = ids
	}
	if s.retiring(name) {
		// A check of a run that retires it: what it holds now is what
		// would be retired.
		v, _, err := s.readFile(name)
		return v, err
	}
	parts := strings.Split(name, "/")
	// The name's own retired value first, then its mappings': the
	// innermost is the one a rotation of exactly what was asked for left.
	for i := len(parts) - 1; i >= 0; i-- {
		p := slices.Clone(parts)
		p[i] += PreviousSuffix
		v, ok, err := s.readFile(strings.Join(p, "/"))
		if err != nil {
			return "", fmt.Errorf("retired %s: %w", decode.Quote(name), err)
		}
		if ok {
			return v, nil
		}
	}
	return "", nil
}

// Retiring makes a check see names as a run that rotates them (a
// runbook's `rotate:`) would, once it has retired them: each is not made
// yet (Pending), and Retired gives what it holds now. Nothing is
// written. Only for a check: a real run retires them with Rotate.
func (s *Store) Retiring(names []string) error {
	if !s.check {
		return errors.New("retiring: only a check sees secrets as retired; a run retires them with Rotate")
	}
	for _, n := range names {
		if err := CheckRotateName(n); err != nil {
			return fmt.Errorf("rotate %w", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retire = append(s.retire, names...)
	return nil
}

// CheckRotateName says what is wrong with name as one to rotate.
func CheckRotateName(name string) error {
	if err := checkName(name); err != nil {
		return fmt.Errorf("%s: %w", decode.Quote(name), err)
	}
	if strings.HasSuffix(name, PreviousSuffix) {
		return fmt.Errorf("%s is a retired value: rotate %s", decode.Quote(name), decode.Quote(strings.TrimSuffix(name, PreviousSuffix)))
	}
	return nil
}
