package consul

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "consul_keyring",
		Doc: "Rotates the gossip encryption keyring to one key: the given key installed on every member, the primary " +
			"key everywhere, and no other key installed. It follows Consul's documented rotation (docs: secure/encryption/" +
			"gossip/rotate): install the key, wait until every member of every pool (each datacenter's LAN, and the " +
			"servers' WAN) has it, use it, wait until it is every member's primary key, then remove the other keys. " +
			"Run it once for the cluster (run_once): the agent relays to every member. Keys are never printed, only " +
			"the first 8 hex digits of their SHA-256. The cluster must already encrypt gossip (encrypt in every agent's " +
			"configuration); the token needs keyring = \"write\".",
		New: func() tasks.Task { return new(Keyring) },
	})
}

// Keyring is the `consul_keyring` task's parameters.
type Keyring struct {
	Agent   `yaml:",inline"`
	Key     string        `yaml:"key" required:"true" doc:"the gossip key every member must have, alone: base64 of 32 random bytes (consul keygen, or the secret function); mark it !secret"`
	Timeout time.Duration `yaml:"timeout" doc:"how long each wait (every member has the key; every member uses it) may take; default 1m"`
}

// keyringPoll is how often a wait lists the keyring again.
const keyringPoll = 250 * time.Millisecond

// Provision sets the defaults and writes the key as Consul lists it.
func (k *Keyring) Provision() error {
	if k.Timeout == 0 {
		k.Timeout = time.Minute
	}
	if raw, err := base64.StdEncoding.DecodeString(k.Key); err == nil {
		k.Key = base64.StdEncoding.EncodeToString(raw)
	}
	return nil
}

// Validate checks the parameters, never quoting the key.
func (k *Keyring) Validate() error {
	raw, err := base64.StdEncoding.DecodeString(k.Key)
	if err != nil || len(raw) != 32 {
		return errors.New("key must be the base64 of 32 random bytes, as consul keygen makes (not shown: it is a secret)")
	}
	if k.Timeout < 0 {
		return fmt.Errorf("timeout must be positive, got %s", k.Timeout)
	}
	return nil
}

// Check lists the keyring of every pool and says what the rotation does.
func (k *Keyring) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, err := k.client(h)
	if err != nil {
		return nil, err
	}
	rings, err := k.list(ctx, h, c)
	if err != nil {
		return nil, tasks.DependsOnEarlier(err)
	}
	summary := k.plan(rings)
	if len(summary) == 0 {
		return tasks.NoChange(), nil
	}
	change := &tasks.Change{Summary: summary}
	change.Apply = func(ctx context.Context) (tasks.Done, error) {
		return tasks.Done{}, k.rotate(ctx, h, c)
	}
	return change, nil
}

// plan says what differs in each pool, one line per step of the rotation.
func (k *Keyring) plan(rings []*api.KeyringResponse) []string {
	fp := fingerprint(k.Key)
	var install, use []string
	old := map[string][]string{} // an old key's fingerprint -> the pools that have it
	for _, r := range rings {
		if n := r.Keys[k.Key]; n < r.NumNodes {
			install = append(install, fmt.Sprintf("%d of %d members (%s)", r.NumNodes-n, r.NumNodes, pool(r)))
		}
		if r.PrimaryKeys[k.Key] < r.NumNodes {
			use = append(use, pool(r))
		}
		for key := range r.Keys {
			if key != k.Key {
				old[fingerprint(key)] = append(old[fingerprint(key)], pool(r))
			}
		}
	}
	var out []string
	if len(install) > 0 {
		out = append(out, fmt.Sprintf("+ install key %s on %s", fp, strings.Join(install, ", ")))
	}
	if len(use) > 0 {
		out = append(out, fmt.Sprintf("~ use key %s as the primary (%s)", fp, strings.Join(use, ", ")))
	}
	for _, f := range slices.Sorted(maps.Keys(old)) {
		out = append(out, fmt.Sprintf("- remove old key %s (%s)", f, strings.Join(old[f], ", ")))
	}
	return out
}

// rotate installs, uses, then removes, each step once every member has
// taken the one before: a member that does not have the key yet cannot
// read gossip encrypted with it.
func (k *Keyring) rotate(ctx context.Context, h *tasks.Host, c *api.Client) error {
	fp := fingerprint(k.Key)
	w := (&api.WriteOptions{}).WithContext(ctx)
	if err := c.Operator().KeyringInstall(k.Key, w); err != nil {
		return k.wrap(h, "install gossip key "+fp, err)
	}
	if err := k.wait(ctx, h, c, "has key "+fp, func(r *api.KeyringResponse) int { return r.Keys[k.Key] }); err != nil {
		return err
	}
	if err := c.Operator().KeyringUse(k.Key, w); err != nil {
		return k.wrap(h, "use gossip key "+fp, err)
	}
	if err := k.wait(ctx, h, c, "uses key "+fp, func(r *api.KeyringResponse) int { return r.PrimaryKeys[k.Key] }); err != nil {
		return err
	}
	rings, err := k.list(ctx, h, c)
	if err != nil {
		return err
	}
	old := map[string]bool{}
	for _, r := range rings {
		for key := range r.Keys {
			if key != k.Key {
				old[key] = true
			}
		}
	}
	for key := range old {
		if err := c.Operator().KeyringRemove(key, w); err != nil {
			return k.wrap(h, "remove old gossip key "+fingerprint(key), err)
		}
	}
	return k.wait(ctx, h, c, "has no other key", func(r *api.KeyringResponse) int {
		if len(r.Keys) == 1 {
			return r.Keys[k.Key]
		}
		return 0
	})
}

// wait lists the keyring until members(ring) is every member of every
// pool, or the timeout passes.
func (k *Keyring) wait(ctx context.Context, h *tasks.Host, c *api.Client, what string, members func(*api.KeyringResponse) int) error {
	deadline := time.Now().Add(k.Timeout)
	for {
		rings, err := k.list(ctx, h, c)
		if err != nil {
			return err
		}
		var short []string
		for _, r := range rings {
			if n := members(r); n < r.NumNodes {
				short = append(short, fmt.Sprintf("%d of %d members (%s)", n, r.NumNodes, pool(r)))
			}
		}
		if len(short) == 0 {
			return nil
		}
		status := strings.Join(short, ", ")
		if time.Now().After(deadline) {
			return fmt.Errorf("wait until every member %s through the agent on %s: after %s, only %s", what, h.Name, k.Timeout, status)
		}
		h.Say("gossip keyring: %s %s", status, what)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(keyringPoll):
		}
	}
}

func (k *Keyring) list(ctx context.Context, h *tasks.Host, c *api.Client) ([]*api.KeyringResponse, error) {
	rings, err := c.Operator().KeyringList((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, k.wrap(h, "list the gossip keyring", err)
	}
	if len(rings) == 0 {
		return nil, fmt.Errorf("list the gossip keyring through the agent on %s: no pool answered", h.Name)
	}
	return rings, nil
}

// wrap says what was being done, and what to do when the cluster has no
// keyring at all. Consul's answers do not quote keys, but the task hides
// them, and its token, all the same.
func (k *Keyring) wrap(h *tasks.Host, doing string, err error) error {
	var se api.StatusError
	if errors.As(err, &se) && strings.Contains(se.Body, "encryption not enabled") {
		return fmt.Errorf("%s through the agent on %s: the cluster does not encrypt gossip: turn encryption on first "+
			"(encrypt in every agent's configuration, rolled out as Consul's docs say: secure/encryption/gossip/enable)", doing, h.Name)
	}
	if errors.As(err, &se) && se.Code == 403 {
		return hide(fmt.Errorf("%s through the agent on %s: the token may not (it needs keyring = \"write\"): %w", doing, h.Name, err), k.Token, k.Key)
	}
	return hide(fmt.Errorf("%s through the agent on %s: %w", doing, h.Name, err), k.Token, k.Key)
}

// pool names a gossip pool as consul keyring -list does.
func pool(r *api.KeyringResponse) string {
	name := r.Datacenter + " LAN"
	if r.WAN {
		name = "WAN"
	}
	if r.Segment != "" {
		name += " segment " + r.Segment
	}
	if r.Partition != "" {
		name += " partition " + r.Partition
	}
	return name
}

// fingerprint names a key without giving it away.
func fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}
