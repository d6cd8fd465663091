package consul_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/consultest"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// Two keys as consul keygen makes them.
const (
	oldGossipKey = "ZyVYkf0SDCAcGyUsvQ9QNrW1fDJAgf2x6K49+pLIzzI="
	newGossipKey = "8Jw1TqgR0VwqR2o8mY0mXnVf3bQe0yS9l6Tr2Tz5c1k="
)

func fp(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:4])
}

func keyringRB(addr, token, key string) string {
	return fmt.Sprintf("steps:\n  - {name: rotate, hosts: h1, task: consul_keyring, with: {agent: %s, token: %q, key: %q, timeout: 30s}}\n", addr, token, key)
}

// keyring reads the agent's keyring: each pool's keys, and its primary.
func keyring(t *testing.T, c *api.Client) string {
	t.Helper()
	rings, err := c.Operator().KeyringList(nil)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rings {
		for key, n := range r.Keys {
			out = append(out, fmt.Sprintf("wan=%t %s %d/%d primary %d", r.WAN, fp(key), n, r.NumNodes, r.PrimaryKeys[key]))
		}
	}
	slices.Sort(out)
	return strings.Join(out, "; ")
}

func TestKeyringTimeline(t *testing.T) {
	agent := consultest.Start(t, consultest.Config(fmt.Sprintf("encrypt = %q\n", oldGossipKey)))
	env := tasktest.New(t)
	rb := keyringRB(agent.Addr, "", newGossipKey)
	before := keyring(t, agent.Client)

	r := env.Apply(rb, "--check")
	want := fmt.Sprintf("+ install key %[1]s on 1 of 1 members (WAN), 1 of 1 members (dc1 LAN);~ use key %[1]s as the primary (WAN, dc1 LAN);- remove old key %[2]s (WAN, dc1 LAN)", fp(newGossipKey), fp(oldGossipKey))
	if got := changes(r, "rotate"); r.Exit != tasktest.ExitDrift || !samePools(got, want) {
		t.Fatalf("first check: want %s\n%s", want, r)
	}
	if after := keyring(t, agent.Client); after != before {
		t.Fatalf("check mode changed the keyring: %s -> %s", before, after)
	}
	leaks(t, r, oldGossipKey, newGossipKey)

	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("rotate").Status != engine.Changed {
		t.Fatalf("apply: %s", r)
	}
	leaks(t, r, oldGossipKey, newGossipKey)
	n := fp(newGossipKey)
	if got, want := keyring(t, agent.Client), fmt.Sprintf("wan=false %s 1/1 primary 1; wan=true %s 1/1 primary 1", n, n); got != want {
		t.Fatalf("keyring after the rotation: %s, want %s", got, want)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK || r.Result("rotate").Status != engine.OK {
		t.Fatalf("second check: %s", r)
	}

	// Back to the old key: a key that is installed already but not the
	// primary is only used, then the other removed.
	if err := agent.Client.Operator().KeyringInstall(oldGossipKey, nil); err != nil {
		t.Fatal(err)
	}
	back := keyringRB(agent.Addr, "", oldGossipKey)
	r = env.Apply(back, "--check")
	want = fmt.Sprintf("~ use key %[1]s as the primary (WAN, dc1 LAN);- remove old key %[2]s (WAN, dc1 LAN)", fp(oldGossipKey), n)
	if got := changes(r, "rotate"); r.Exit != tasktest.ExitDrift || !samePools(got, want) {
		t.Fatalf("check with both keys installed: want %s\n%s", want, r)
	}
	if r = env.Apply(back); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply back: %s", r)
	}
	if r = env.Apply(back, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after going back: %s", r)
	}
}

// samePools compares summaries whose pools Consul may list in either order.
func samePools(got, want string) bool {
	norm := func(s string) string {
		s = strings.ReplaceAll(s, "dc1 LAN, WAN", "WAN, dc1 LAN")
		return strings.ReplaceAll(s, "1 of 1 members (dc1 LAN), 1 of 1 members (WAN)", "1 of 1 members (WAN), 1 of 1 members (dc1 LAN)")
	}
	return norm(got) == norm(want)
}

func TestKeyringWithoutEncryption(t *testing.T) {
	agent := consultest.Start(t)
	env := tasktest.New(t)
	r := env.Apply(keyringRB(agent.Addr, "", newGossipKey), "--check")
	if msg := r.Result("rotate").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "the cluster does not encrypt gossip: turn encryption on first") {
		t.Fatalf("check of a cluster without gossip encryption: %q\n%s", msg, r)
	}
	leaks(t, r, newGossipKey)
}

func TestKeyringACL(t *testing.T) {
	agent := consultest.Start(t, consultest.ACLs(management), consultest.Config(fmt.Sprintf("encrypt = %q\n", oldGossipKey)))
	env := tasktest.New(t)
	// A token that may read the keyring, not write it.
	if _, _, err := agent.Client.ACL().PolicyCreate(&api.ACLPolicy{Name: "keyring-read", Rules: `keyring = "read"`}, nil); err != nil {
		t.Fatal(err)
	}
	const reader = "7c1d2e3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f"
	if _, _, err := agent.Client.ACL().TokenCreate(&api.ACLToken{SecretID: reader, Policies: []*api.ACLTokenPolicyLink{{Name: "keyring-read"}}}, nil); err != nil {
		t.Fatal(err)
	}
	before := keyring(t, agent.Client)

	r := env.Apply(keyringRB(agent.Addr, reader, newGossipKey))
	if msg := r.Result("rotate").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, `install gossip key `+fp(newGossipKey)+` through the agent on h1: the token may not (it needs keyring = "write")`) {
		t.Fatalf("apply with a read-only token: %q\n%s", msg, r)
	}
	leaks(t, r, reader, newGossipKey, oldGossipKey)
	if after := keyring(t, agent.Client); after != before {
		t.Fatalf("a refused apply changed the keyring: %s -> %s", before, after)
	}

	r = env.Apply(keyringRB(agent.Addr, management, newGossipKey))
	if r.Exit != tasktest.ExitOK {
		t.Fatalf("apply with the management token: %s", r)
	}
	leaks(t, r, management, newGossipKey, oldGossipKey)
}

func TestKeyringValidate(t *testing.T) {
	env := tasktest.New(t)
	const short = "c2hvcnQtYnV0LXNlY3JldA=="
	r := env.Apply(keyringRB("127.0.0.1:1", "", short), "--check")
	if r.Exit != tasktest.ExitError || !strings.Contains(r.String(), "key must be the base64 of 32 random bytes, as consul keygen makes (not shown: it is a secret)") {
		t.Fatalf("a key of 12 bytes: %s", r)
	}
	leaks(t, r, short)
}
