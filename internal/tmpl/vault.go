package tmpl

import (
	"context"
	"errors"
	"fmt"

	"github.com/runbookdev/runbook/internal/vault"
)

// runFuncs make template functions that belong to one run (one Taint):
// they keep state for the run and add what they return to its secrets.
// Each is made on a Taint's first rendering; they are not wrapped for
// taint, since what they return is secret already.
var runFuncs = map[string]func(*Taint) any{
	"vault": vaultFunc,
}

func init() {
	// Outside a run (runbook checks parse templates with these) there is no
	// Vault to read; the name must still parse.
	funcs["vault"] = func(path string, field ...string) (any, error) {
		return nil, errors.New("vault: read only while a run renders its templates")
	}
}

// vaultFunc is {{ vault "secret/data/consul" "gossip_key" }}: one field of
// a KV version 2 secret, or with no field all of them, as a mapping
// ({{ (vault "secret/data/consul").gossip_key }}). Each path is read once
// per run, whatever the hosts; check mode reads too (Vault is only read).
func vaultFunc(t *Taint) any {
	r := vault.NewReader(t.set)
	return func(path string, field ...string) (any, error) {
		// A template function has no context of the run; the client's own
		// timeout (VAULT_CLIENT_TIMEOUT, 60s) bounds each request.
		ctx := context.Background()
		switch len(field) {
		case 0:
			return r.Read(ctx, path)
		case 1:
			return r.Field(ctx, path, field[0])
		}
		return nil, fmt.Errorf("vault: want a path and at most one field, such as vault \"secret/data/consul\" \"gossip_key\"; got %d fields", len(field))
	}
}
