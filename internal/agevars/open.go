package agevars

import (
	"errors"
	"fmt"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// Open prepares doc, a vars file as parsed (decode.ParseAllowing with
// Tag), for tmpl.ParseVars: it removes the header, decrypts every
// !encrypted value in place, and tags !secret each top-level value that
// held one, so that it and whatever is derived from it is never shown.
// The user's keys are read only when the file holds an encrypted value.
// Plaintext stays in memory.
func Open(file string, doc *yaml.Node) error {
	if doc == nil || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return checkTags(file, doc)
	}
	top := doc.Content[0]
	var errs decode.List
	d := &opener{file: file}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if k.Value != HeaderKey {
			continue
		}
		rs, err := parseHeader(file, v)
		errs.Add(err)
		d.recipients = rs
		top.Content = append(top.Content[:i:i], top.Content[i+2:]...)
		break
	}
	if err := errs.Err(); err != nil {
		return err
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		k, v := top.Content[i], top.Content[i+1]
		if err := checkTags(file, v); err != nil {
			errs.Add(err)
			continue
		}
		if !hasEncrypted(v) {
			continue
		}
		err := walk(v, k.Value, false, func(path string, leaf *yaml.Node, _ bool) error {
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
			leaf.Tag, leaf.Value, leaf.Style = "!!str", plain, 0
			return nil
		})
		errs.Add(err)
		v.Tag = "!secret"
	}
	return errs.Err()
}

// checkTags refuses !encrypted on what is not a scalar.
func checkTags(file string, n *yaml.Node) error {
	if n == nil {
		return nil
	}
	if n.Tag == Tag && n.Kind != yaml.ScalarNode {
		return decode.Errorf(decode.At(file, n), "!encrypted marks one value encrypted with age (a string, as `runbook secrets` writes it), not %s: encrypt each value within", decode.NodeKind(n))
	}
	for _, c := range n.Content {
		if err := checkTags(file, c); err != nil {
			return err
		}
	}
	return nil
}

// opener decrypts the values of one file, saying what went wrong once
// when the file is not for the user.
type opener struct {
	file       string
	recipients []*Recipient
	ids        *Identities
	idsErr     error
	told       bool // that the file is not for the user
}

// open decrypts one value; errStop when the user was already told that
// they cannot.
func (d *opener) open(path string, leaf *yaml.Node) (string, error) {
	if d.ids == nil && d.idsErr == nil {
		d.ids, d.idsErr = LoadIdentities()
	}
	pos := decode.At(d.file, leaf)
	name := strings.TrimPrefix(path, "/")
	if d.idsErr != nil {
		if d.told {
			return "", errStop
		}
		d.told = true
		return "", decode.Errorf(pos, "%s: cannot decrypt: %w", name, d.idsErr)
	}
	plain, err := decrypt(leaf.Value, d.ids)
	if err == nil {
		return plain, nil
	}
	if errors.Is(err, ErrNotForYou) && d.ids.holdsOneOf(d.recipients) {
		// A damaged recipient stanza cannot be told from another's.
		err = fmt.Errorf("%w (it is not for any of your keys, yet the file's header says it is for one of them)", ErrDamaged)
	}
	if errors.Is(err, ErrDamaged) {
		return "", decode.Errorf(pos, "%s: the encrypted value is %w: restore it from version control, or set it anew with `runbook secrets set %s %s`", name, err, d.file, name)
	}
	if d.told {
		return "", errStop
	}
	d.told = true
	return "", decode.Errorf(pos, "%s: cannot decrypt: %s", name, d.cannot(err))
}

// cannot says why the user cannot decrypt and what to do.
func (d *opener) cannot(err error) string {
	if errors.Is(err, ErrLocked) {
		return fmt.Sprintf("%v, and runbook never asks for a passphrase: make an age key (`runbook secrets init`) and have someone who can read the file add it (`runbook secrets rekey %s --add AGE-PUBLIC-KEY`)", err, d.file)
	}
	if len(d.ids.ids) == 0 {
		return fmt.Sprintf("no age or SSH private key found (looked for %s): make one with `runbook secrets init`, set %s, and have someone who can read the file add its public key (`runbook secrets rekey %s --add AGE-PUBLIC-KEY`)", d.ids.Tried(), EnvKeyFile, d.file)
	}
	return fmt.Sprintf("it is not encrypted for any of your keys (%s); it is for %s. Have one of them add yours: `runbook secrets rekey %s --add YOUR-PUBLIC-KEY`", d.ids.Tried(), describe(d.recipients), d.file)
}
