package consul_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/consultest"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// reads says whether the agent at addr accepts token, and as what.
func tokenSelf(t *testing.T, addr, token string) (*api.ACLToken, error) {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.Address, cfg.Token = addr, token
	c, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	self, _, err := c.ACL().TokenReadSelf(nil)
	return self, err
}

// leaks fails the test when a secret appears anywhere in what a run wrote.
func leaks(t *testing.T, r tasktest.Run, secrets ...string) {
	t.Helper()
	all := r.String() + r.Stdout + r.Stderr
	for _, ev := range r.Events {
		all += ev.Message + strings.Join(ev.Changes, "\n") + ev.Diff
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Fatalf("the run printed a secret:\n%s", r)
		}
	}
}

func TestACLBootstrapTimeline(t *testing.T) {
	data := t.TempDir()
	agent := consultest.Start(t, consultest.ACLs(""), consultest.Config(fmt.Sprintf("data_dir = %q\n", data)))
	env := tasktest.New(t)
	bootstrap := func(token string) string {
		return fmt.Sprintf("steps:\n  - {name: acl, hosts: h1, task: consul_acl_bootstrap, with: {agent: %s, token: %s}}\n", agent.Addr, token)
	}
	rb := bootstrap(management)

	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "acl") != "+ bootstrap ACLs" {
		t.Fatalf("first check: %s", r)
	}
	if _, err := tokenSelf(t, agent.Addr, management); err == nil {
		t.Fatal("check mode bootstrapped the ACLs")
	}
	r = env.Apply(rb)
	if r.Exit != tasktest.ExitOK || r.Result("acl").Status != engine.Changed || !strings.HasPrefix(changes(r, "acl"), "+ bootstrap ACLs: management token ") {
		t.Fatalf("apply: %s", r)
	}
	leaks(t, r, management)
	if self, err := tokenSelf(t, agent.Addr, management); err != nil || self.Policies[0].Name != "global-management" {
		t.Fatalf("the bootstrap token: %+v, %v", self, err)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK || r.Result("acl").Status != engine.OK {
		t.Fatalf("second check: %s", r)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("acl").Status != engine.OK {
		t.Fatalf("second apply: %s", r)
	}

	// Another token after the bootstrap: the management token it would
	// make is lost, or never was; the error says how to reset.
	const other = "5e0b7d3a-8c4f-4b12-a6d9-1c3e5f7a9b20"
	if r = env.Apply(bootstrap(other), "--check"); r.Exit != tasktest.ExitDrift || changes(r, "acl") != "+ bootstrap ACLs" {
		t.Fatalf("check with another token: %s", r)
	}
	r = env.Apply(bootstrap(other))
	msg := r.Result("acl").Message
	index := regexpIndex(t, msg)
	for _, want := range []string{"bootstrapped already, with another token", "reset index: " + index,
		"on the current leader (127.0.0.1:", "write " + index + " to the file acl-bootstrap-reset in Consul's data_dir"} {
		if r.Exit != tasktest.ExitError || !strings.Contains(msg, want) {
			t.Fatalf("apply with another token: want %q in %q\n%s", want, msg, r)
		}
	}
	leaks(t, r, other, management)

	// The documented reset, done as the error says: then the step
	// bootstraps with the new token.
	if err := os.WriteFile(filepath.Join(data, "acl-bootstrap-reset"), []byte(index+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r = env.Apply(bootstrap(other)); r.Exit != tasktest.ExitOK || r.Result("acl").Status != engine.Changed {
		t.Fatalf("apply after the reset: %s", r)
	}
	if self, err := tokenSelf(t, agent.Addr, other); err != nil || self.Policies[0].Name != "global-management" {
		t.Fatalf("the new bootstrap token: %+v, %v", self, err)
	}
}

func regexpIndex(t *testing.T, msg string) string {
	t.Helper()
	var index string
	if i := strings.Index(msg, "reset index: "); i >= 0 {
		rest := msg[i+len("reset index: "):]
		index = rest[:strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })]
	}
	if index == "" {
		t.Fatalf("no reset index in %q", msg)
	}
	return index
}

func TestACLBootstrapNeedsACLs(t *testing.T) {
	agent := consultest.Start(t)
	env := tasktest.New(t)
	rb := fmt.Sprintf("steps:\n  - {name: acl, hosts: h1, task: consul_acl_bootstrap, with: {agent: %s, token: 0d8a2c1e-5b7f-4c3a-9e21-6f4b8d2a7c15}}\n", agent.Addr)
	r := env.Apply(rb, "--check")
	if msg := r.Result("acl").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "ACLs are not enabled there: set acl { enabled = true }") {
		t.Fatalf("check without ACLs: %q\n%s", msg, r)
	}
}

func TestACLBootstrapRefusesAnOrdinaryToken(t *testing.T) {
	agent := consultest.Start(t, consultest.ACLs(management))
	env := tasktest.New(t)
	tok, _, err := agent.Client.ACL().TokenCreate(&api.ACLToken{Description: "not management", NodeIdentities: []*api.ACLNodeIdentity{{NodeName: "n1", Datacenter: "dc1"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rb := fmt.Sprintf("steps:\n  - {name: acl, hosts: h1, task: consul_acl_bootstrap, with: {agent: %s, token: %s}}\n", agent.Addr, tok.SecretID)
	r := env.Apply(rb, "--check")
	if msg := r.Result("acl").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "the token is Consul's token "+tok.AccessorID+", which is not a management token") {
		t.Fatalf("check with an ordinary token: %q\n%s", msg, r)
	}
	leaks(t, r, tok.SecretID)
}
