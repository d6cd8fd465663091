package authorizedkey

import (
	"context"
	"fmt"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
)

// Keys is several keys of one user, as the user task's authorized_keys
// gives them: present in ~/.ssh/authorized_keys, and the only keys there
// when Exclusive. The file is read and written as authorized_key does
// (as the user, refusing links and other owners).
type Keys struct {
	User      string
	Lines     []string // public key lines, options first if any, as in the file
	Exclusive bool
}

// Validate judges each line by the rules of authorized_key's key and
// options; param names the parameter in errors.
func (k Keys) Validate(param string) error {
	_, err := k.entries(param)
	return err
}

func (k Keys) entries(param string) ([]entry, error) {
	out := make([]entry, 0, len(k.Lines))
	for i, line := range k.Lines {
		e, ok := parseLine(line)
		if !ok {
			return nil, fmt.Errorf("%s[%d] %s is not one OpenSSH public key line (type, base64 blob, comment: as in id_ed25519.pub, options first if any)", param, i, decode.Quote(line))
		}
		if e.options != "" {
			if err := checkOptions(e.options); err != nil {
				return nil, fmt.Errorf("%s[%d]: options %s: %w", param, i, decode.Quote(e.options), err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

// Check reads the user's file and says what would change.
func (k Keys) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	wants, err := k.entries("authorized_keys")
	if err != nil {
		return nil, err
	}
	return keySet{user: k.User, wants: wants, exclusive: k.Exclusive}.check(ctx, h)
}
