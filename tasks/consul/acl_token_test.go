package consul_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/consultest"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

func TestACLTokenTimeline(t *testing.T) {
	agent := consultest.Start(t, consultest.ACLs(management))
	env := tasktest.New(t)
	for _, name := range []string{"fcs-read", "extra"} {
		if _, _, err := agent.Client.ACL().PolicyCreate(&api.ACLPolicy{Name: name, Rules: `service "fcs" { policy = "read" }`}, nil); err != nil {
			t.Fatal(err)
		}
	}
	const accessor, secret = "3f0e6a52-1c2b-4d7e-8a9f-0b1c2d3e4f50", "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	token := func(accessor, secret, extra string) string {
		return fmt.Sprintf(`
steps:
  - name: fcs
    hosts: h1
    task: consul_acl_token
    with:
      agent: %s
      token: %s
      accessor_id: %s
      secret_id: %s
      description: fcs and its sidecar
      policies: [fcs-read]
      service_identities: [{service_name: fcs, datacenters: [dc1]}]
      node_identities: [{node_name: fcs00, datacenter: dc1}]
%s`, agent.Addr, management, accessor, secret, extra)
	}
	rb := token(accessor, secret, "")
	read := func(accessor string) *api.ACLToken {
		t.Helper()
		tok, _, err := agent.Client.ACL().TokenRead(accessor, nil)
		if err != nil && !strings.Contains(err.Error(), "token does not exist") {
			t.Fatal(err)
		}
		return tok
	}

	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "fcs") != "+ token "+accessor {
		t.Fatalf("first check: %s", r)
	}
	if tok := read(accessor); tok != nil {
		t.Fatalf("check mode made the token: %+v", tok)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("fcs").Status != engine.Changed {
		t.Fatalf("apply: %s", r)
	}
	leaks(t, r, secret, management)
	if self, err := tokenSelf(t, agent.Addr, secret); err != nil || self.AccessorID != accessor || self.Policies[0].Name != "fcs-read" ||
		self.ServiceIdentities[0].ServiceName != "fcs" || self.NodeIdentities[0].NodeName != "fcs00" {
		t.Fatalf("the token as its SecretID sees it: %+v, %v", self, err)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK || r.Result("fcs").Status != engine.OK {
		t.Fatalf("second check: %s", r)
	}

	// Drift: someone swaps its policy and identities by hand.
	tok := read(accessor)
	tok.Policies = []*api.ACLTokenPolicyLink{{Name: "extra"}}
	tok.ServiceIdentities = []*api.ACLServiceIdentity{{ServiceName: "fcc"}}
	tok.NodeIdentities = nil
	if _, _, err := agent.Client.ACL().TokenUpdate(tok, nil); err != nil {
		t.Fatal(err)
	}
	r = env.Apply(rb, "--check")
	want := "~ policies [extra] -> [fcs-read];~ node identities [] -> [fcs00@dc1];~ service identities [fcc] -> [fcs@dc1]"
	if r.Exit != tasktest.ExitDrift || changes(r, "fcs") != want {
		t.Fatalf("drift check: want %s\n%s", want, r)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("fcs").Status != engine.Changed {
		t.Fatalf("apply after drift: %s", r)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after drift: %s", r)
	}
	if tok := read(accessor); len(tok.Policies) != 1 || tok.Policies[0].Name != "fcs-read" {
		t.Fatalf("repaired: %+v", tok)
	}

	// Drift: the token was re-made by hand with the same accessor and
	// another SecretID. Consul cannot change a SecretID: the apply
	// deletes and re-creates the token.
	const handSecret = "11111111-2222-4333-8444-555555555555"
	if _, err := agent.Client.ACL().TokenDelete(accessor, nil); err != nil {
		t.Fatal(err)
	}
	if _, _, err := agent.Client.ACL().TokenCreate(&api.ACLToken{AccessorID: accessor, SecretID: handSecret, Description: "fcs and its sidecar",
		Policies: []*api.ACLTokenPolicyLink{{Name: "fcs-read"}}, ServiceIdentities: []*api.ACLServiceIdentity{{ServiceName: "fcs", Datacenters: []string{"dc1"}}},
		NodeIdentities: []*api.ACLNodeIdentity{{NodeName: "fcs00", Datacenter: "dc1"}}}, nil); err != nil {
		t.Fatal(err)
	}
	r = env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "fcs") != "~ secret_id is not the runbook's (it cannot change: delete and re-create the token)" {
		t.Fatalf("secret drift check: %s", r)
	}
	leaks(t, r, secret, handSecret, management)
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("fcs").Status != engine.Changed {
		t.Fatalf("apply after secret drift: %s", r)
	}
	if _, err := tokenSelf(t, agent.Addr, handSecret); err == nil {
		t.Fatal("the hand-made SecretID still works")
	}
	if self, err := tokenSelf(t, agent.Addr, secret); err != nil || self.AccessorID != accessor {
		t.Fatalf("the runbook's SecretID after the repair: %+v, %v", self, err)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after secret drift: %s", r)
	}

	// Rotation: a new token beside the old, then the old one removed.
	const newAccessor, newSecret = "4a1f7b63-2d3c-4e8f-9b0a-1c2d3e4f5a61", "0b9c8d7e-6f5a-4b4c-9d3e-2f1a0b9c8d7e"
	rotate := token(newAccessor, newSecret, fmt.Sprintf(`  - {name: old, hosts: h1, task: consul_acl_token, with: {agent: %s, token: %s, accessor_id: %s, state: absent}}
`, agent.Addr, management, accessor))
	r = env.Apply(rotate, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "fcs") != "+ token "+newAccessor || changes(r, "old") != "- token "+accessor+" (fcs and its sidecar)" {
		t.Fatalf("rotation check: %s", r)
	}
	if r = env.Apply(rotate); r.Exit != tasktest.ExitOK {
		t.Fatalf("rotation: %s", r)
	}
	if _, err := tokenSelf(t, agent.Addr, secret); err == nil {
		t.Fatal("the old token still works")
	}
	if self, err := tokenSelf(t, agent.Addr, newSecret); err != nil || self.AccessorID != newAccessor {
		t.Fatalf("the new token: %+v, %v", self, err)
	}
	if r = env.Apply(rotate, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after rotation: %s", r)
	}

	// Consul answers alike for an unknown accessor and an unknown token of
	// the task's: the task's own token unknown is an error, not a token
	// to make.
	const unknown = "22222222-3333-4444-8555-666666666666"
	r = env.Apply(strings.Replace(token("5b2a8c74-3e4d-4f9a-8c1b-2d3e4f5a6b72", newSecret, ""), management, unknown, 1), "--check")
	if msg := r.Result("fcs").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "ACL not found") {
		t.Fatalf("check with an unknown token of the task's: %q\n%s", msg, r)
	}
	leaks(t, r, unknown, newSecret)
}

func TestACLTokenValidate(t *testing.T) {
	env := tasktest.New(t)
	const secret = "not-a-uuid-but-secret"
	rb := fmt.Sprintf("steps:\n  - {name: t, hosts: h1, task: consul_acl_token, with: {accessor_id: 3f0e6a52-1c2b-4d7e-8a9f-0b1c2d3e4f50, secret_id: %s}}\n", secret)
	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitError || !strings.Contains(r.String(), "secret_id must be a UUID (not shown: it is a secret)") {
		t.Fatalf("a SecretID that is not a UUID: %s", r)
	}
	leaks(t, r, secret)
}
