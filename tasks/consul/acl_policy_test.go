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

const management = "0d8a2c1e-5b7f-4c3a-9e21-6f4b8d2a7c15"

func TestACLPolicyTimeline(t *testing.T) {
	agent := consultest.Start(t, consultest.ACLs(management))
	env := tasktest.New(t)
	rb := fmt.Sprintf(`
steps:
  - name: fcs
    hosts: h1
    task: consul_acl_policy
    with:
      agent: %s
      token: %s
      name: fcs-operator
      description: registers fcs
      datacenters: [dc1]
      rules: |
        service "fcs" {
          policy = "write"
        }
        node_prefix "" { policy = "read" }
`, agent.Addr, management)
	read := func() *api.ACLPolicy {
		t.Helper()
		p, _, err := agent.Client.ACL().PolicyReadByName("fcs-operator", nil)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}

	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "fcs") != "+ policy fcs-operator" {
		t.Fatalf("first check: %s", r)
	}
	if p := read(); p != nil {
		t.Fatalf("check mode made the policy: %+v", p)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("fcs").Status != engine.Changed {
		t.Fatalf("apply: %s", r)
	}
	if p := read(); p == nil || !strings.Contains(p.Rules, `policy = "write"`) || p.Description != "registers fcs" {
		t.Fatalf("made %+v", p)
	}
	// Consul keeps the rules as given, so they compare as they are.
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK || r.Result("fcs").Status != engine.OK {
		t.Fatalf("second check: %s", r)
	}
	leaks(t, r, management)

	// Drift: someone weakens the policy by hand.
	p := read()
	p.Rules = strings.Replace(p.Rules, `policy = "write"`, `policy = "read"`, 1)
	p.Description = "by hand"
	if _, _, err := agent.Client.ACL().PolicyUpdate(p, nil); err != nil {
		t.Fatal(err)
	}
	r = env.Apply(rb, "--check", "--diff")
	want := `~ description "by hand" -> "registers fcs";~ rules, line 2: "policy = \"read\"" -> "policy = \"write\""`
	if r.Exit != tasktest.ExitDrift || changes(r, "fcs") != want {
		t.Fatalf("drift check: want %s\n%s", want, r)
	}
	if d := r.Result("fcs").Diff; !strings.Contains(d, "-  policy = \"read\"\n+  policy = \"write\"") {
		t.Fatalf("drift diff: %q", d)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("fcs").Status != engine.Changed {
		t.Fatalf("apply after drift: %s", r)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after drift: %s", r)
	}

	absent := fmt.Sprintf("steps:\n  - {name: fcs, hosts: h1, task: consul_acl_policy, with: {agent: %s, token: %s, name: fcs-operator, state: absent}}\n", agent.Addr, management)
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitDrift || changes(r, "fcs") != "- policy fcs-operator" {
		t.Fatalf("absent, check: %s", r)
	}
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK || read() != nil {
		t.Fatalf("absent, apply: %s", r)
	}
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent, second check: %s", r)
	}
}
