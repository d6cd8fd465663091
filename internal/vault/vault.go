// Package vault reads secrets from HashiCorp Vault's KV version 2 engine
// for a run: once per path, every value added to the run's secret set.
package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/hashicorp/vault/api"
	"github.com/runbookdev/runbook/internal/secret"
)

// Reader reads KV v2 secrets for one run. It logs in on its first read, so
// a run that reads nothing from Vault never needs an address or a token.
// It is safe for concurrent use: hosts rendering the same path at once
// share one request.
type Reader struct {
	set *secret.Set

	loginOnce sync.Once
	client    *api.Client
	tokenFrom string // where the token came from, for errors
	loginErr  error

	mu    sync.Mutex
	cache map[string]*entry
}

type entry struct {
	once sync.Once
	data map[string]any
	err  error
}

// NewReader returns a Reader that adds what it reads, and the token it
// uses, to set.
func NewReader(set *secret.Set) *Reader {
	return &Reader{set: set, cache: map[string]*entry{}}
}

// Read returns the fields of the latest version of the KV v2 secret at
// path, read once per Reader; errors are kept as well, so a path that
// cannot be read fails every host the same way without asking again.
func (r *Reader) Read(ctx context.Context, path string) (map[string]any, error) {
	p, err := APIPath(path)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	e := r.cache[p]
	if e == nil {
		e = &entry{}
		r.cache[p] = e
	}
	r.mu.Unlock()
	e.once.Do(func() { e.data, e.err = r.read(ctx, p) })
	return e.data, e.err
}

// Field returns one field of the secret at path.
func (r *Reader) Field(ctx context.Context, path, field string) (any, error) {
	data, err := r.Read(ctx, path)
	if err != nil {
		return nil, err
	}
	v, ok := data[field]
	if !ok {
		names := make([]string, 0, len(data))
		for k := range data {
			names = append(names, k)
		}
		slices.Sort(names)
		return nil, fmt.Errorf("%s has no field %q; its fields are: %s", path, field, strings.Join(names, ", "))
	}
	return v, nil
}

// APIPath turns a KV v2 path into the one Vault's HTTP API reads:
// "secret/data/consul" (as the API, consul-template and Ansible's
// hashi_vault lookup write it) stays as it is; "secret/consul" (as
// `vault kv get` takes it) gets "data" after its first segment, the mount.
func APIPath(path string) (string, error) {
	p := strings.Trim(path, "/")
	seg := strings.Split(p, "/")
	if p == "" || len(seg) < 2 || slices.Contains(seg, "") || slices.Contains(seg, "..") || slices.Contains(seg, ".") {
		return "", fmt.Errorf("path %q: want mount/data/path (KV version 2), such as secret/data/consul", path)
	}
	if seg[1] == "data" {
		if len(seg) < 3 {
			return "", fmt.Errorf("path %q names no secret under %s/data/: want such as %s/data/consul", path, seg[0], seg[0])
		}
		return p, nil
	}
	return seg[0] + "/data/" + strings.Join(seg[1:], "/"), nil
}

func (r *Reader) read(ctx context.Context, path string) (map[string]any, error) {
	r.loginOnce.Do(func() { r.loginErr = r.login(ctx) })
	if r.loginErr != nil {
		return nil, r.loginErr
	}
	s, err := r.client.Logical().ReadWithContext(ctx, path)
	if err != nil {
		return nil, r.explain(path, err)
	}
	if s == nil || s.Data == nil {
		return nil, fmt.Errorf("read %s from %s: no secret there: check the path (KV version 2 paths are mount/data/path, such as secret/data/consul) and that it was written (vault kv put)", path, r.client.Address())
	}
	data, ok := s.Data["data"].(map[string]any)
	if !ok {
		if md, _ := s.Data["metadata"].(map[string]any); md != nil {
			if md["destroyed"] == true {
				return nil, fmt.Errorf("read %s: its latest version (%v) is destroyed: write a new one (vault kv put)", path, md["version"])
			}
			if t, _ := md["deletion_time"].(string); t != "" {
				return nil, fmt.Errorf("read %s: its latest version (%v) is deleted: undelete it (vault kv undelete) or write a new one", path, md["version"])
			}
		}
		return nil, fmt.Errorf("read %s: not a KV version 2 secret (no data in the answer): is %s a KV v2 mount?", path, strings.SplitN(path, "/", 2)[0])
	}
	out := plain(data).(map[string]any)
	r.set.Add(out)
	return out, nil
}

// plain makes Vault's JSON numbers their text, which the secret set masks
// like any string.
func plain(v any) any {
	switch x := v.(type) {
	case json.Number:
		return x.String()
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, item := range x {
			out[k] = plain(item)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, item := range x {
			out[i] = plain(item)
		}
		return out
	}
	return v
}

// explain says what a failed read means and what to do about it. Vault's
// answers name the path, never a value.
func (r *Reader) explain(path string, err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		switch re.StatusCode {
		case http.StatusForbidden:
			return fmt.Errorf("read %s: permission denied: the token (%s) is invalid or expired, or no policy of it grants \"read\" on %s", path, r.tokenFrom, path)
		case http.StatusServiceUnavailable:
			return fmt.Errorf("read %s from %s: Vault is sealed or not ready: unseal it, then run again", path, r.client.Address())
		}
		return fmt.Errorf("read %s from %s: %s", path, r.client.Address(), strings.Join(re.Errors, "; "))
	}
	return fmt.Errorf("read %s from %s (VAULT_ADDR): %w", path, r.client.Address(), err)
}

// login makes the client and finds a token: VAULT_TOKEN; an AppRole
// login with VAULT_ROLE_ID and VAULT_SECRET_ID; the file `vault login`
// writes, ~/.vault-token. What is set explicitly for the run beats what
// an earlier login left behind.
func (r *Reader) login(ctx context.Context) error {
	cfg := api.DefaultConfig() // VAULT_ADDR, VAULT_CACERT, VAULT_CLIENT_TIMEOUT, ...
	if cfg.Error != nil {
		return fmt.Errorf("Vault settings (VAULT_ADDR, VAULT_CACERT, ...): %w", cfg.Error)
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("Vault client for %s: %w", cfg.Address, err)
	}
	c.ClearToken() // chosen below, with where it came from
	r.client = c
	if t := strings.TrimSpace(os.Getenv("VAULT_TOKEN")); t != "" {
		r.use(t, "VAULT_TOKEN")
		return nil
	}
	if role := os.Getenv("VAULT_ROLE_ID"); role != "" {
		return r.approle(ctx, role, os.Getenv("VAULT_SECRET_ID"))
	}
	home, err := os.UserHomeDir()
	if err == nil {
		file := filepath.Join(home, ".vault-token")
		data, err := os.ReadFile(file)
		if err == nil && strings.TrimSpace(string(data)) != "" {
			r.use(strings.TrimSpace(string(data)), file)
			return nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read the token in %s: %w", file, err)
		}
	}
	return errors.New("no Vault token: set VAULT_TOKEN, log in with `vault login` (it writes ~/.vault-token), or set VAULT_ROLE_ID and VAULT_SECRET_ID to log in with an AppRole")
}

func (r *Reader) use(token, from string) {
	r.set.Add(token)
	r.client.SetToken(token)
	r.tokenFrom = from
}

// approle logs in at auth/approle (or VAULT_APPROLE_MOUNT).
func (r *Reader) approle(ctx context.Context, roleID, secretID string) error {
	mount := strings.Trim(os.Getenv("VAULT_APPROLE_MOUNT"), "/")
	if mount == "" {
		mount = "approle"
	}
	r.set.Add(secretID)
	body := map[string]any{"role_id": roleID}
	if secretID != "" {
		body["secret_id"] = secretID
	}
	s, err := r.client.Logical().WriteWithContext(ctx, "auth/"+mount+"/login", body)
	if err != nil {
		var re *api.ResponseError
		if errors.As(err, &re) && (re.StatusCode == http.StatusBadRequest || re.StatusCode == http.StatusForbidden) {
			return fmt.Errorf("AppRole login at auth/%s on %s refused (%s): check VAULT_ROLE_ID and VAULT_SECRET_ID", mount, r.client.Address(), strings.Join(re.Errors, "; "))
		}
		return fmt.Errorf("AppRole login at auth/%s on %s (VAULT_ADDR): %w", mount, r.client.Address(), err)
	}
	if s == nil || s.Auth == nil || s.Auth.ClientToken == "" {
		return fmt.Errorf("AppRole login at auth/%s on %s gave no token", mount, r.client.Address())
	}
	r.use(s.Auth.ClientToken, "AppRole login with VAULT_ROLE_ID")
	return nil
}
