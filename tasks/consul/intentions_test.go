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

// entrySources lists the entry's sources as name=action, in order.
func entrySources(t *testing.T, c *api.Client, dest string) string {
	t.Helper()
	e, _, err := c.ConfigEntries().Get(api.ServiceIntentions, dest, nil)
	if err != nil {
		if strings.Contains(err.Error(), "404") {
			return "none"
		}
		t.Fatal(err)
	}
	var out []string
	for _, s := range e.(*api.ServiceIntentionsConfigEntry).Sources {
		out = append(out, fmt.Sprintf("%s=%s", s.Name, s.Action))
	}
	return strings.Join(out, ",")
}

// setSource sets one source's action by hand, as another person would,
// keeping the rest of the entry.
func setSource(t *testing.T, c *api.Client, dest, name, action string) {
	t.Helper()
	entry := &api.ServiceIntentionsConfigEntry{Kind: api.ServiceIntentions, Name: dest}
	e, _, err := c.ConfigEntries().Get(api.ServiceIntentions, dest, nil)
	switch {
	case err == nil:
		entry = e.(*api.ServiceIntentionsConfigEntry)
	case !strings.Contains(err.Error(), "404"):
		t.Fatal(err)
	}
	found := false
	for _, s := range entry.Sources {
		if s.Name == name {
			s.Action, found = api.IntentionAction(action), true
		}
	}
	if !found {
		entry.Sources = append(entry.Sources, &api.SourceIntention{Name: name, Action: api.IntentionAction(action)})
	}
	if _, _, err := c.ConfigEntries().Set(entry, nil); err != nil {
		t.Fatal(err)
	}
}

// operator makes a management token for one run of consul_intentions.
// The agent keeps its view of a destination's intentions per token, and
// Consul 1.22.5's agent misses changes after the first one that view takes
// in, then answers from it for good (20 minutes, in a trial): the agent's
// answer after a second change is a coin toss. So each run asks with a
// token of its own, whose view sees the one change the run makes;
// TestIntentionsStaleAgent covers a stale agent on purpose.
func operator(t *testing.T, agent *consultest.Agent) string {
	t.Helper()
	tok, _, err := agent.Client.ACL().TokenCreate(&api.ACLToken{Description: "one run", Policies: []*api.ACLTokenPolicyLink{{Name: "global-management"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok.SecretID
}

func TestIntentionsTimeline(t *testing.T) {
	agent := consultest.Start(t, consultest.ACLs(management))
	env := tasktest.New(t)
	intentions := func(token, extra string) string {
		return fmt.Sprintf(`
steps:
  - name: db
    hosts: h1
    task: consul_intentions
    with:
      agent: %s
      token: %s
      destination: db
      sources:
        - {name: web, action: allow, description: reads}
        - {name: api, action: deny}
%s`, agent.Addr, token, extra)
	}
	rb := func(extra string) string { return intentions(operator(t, agent), extra) }
	// Somebody else's source, there first.
	setSource(t, agent.Client, "db", "other", "allow")

	r := env.Apply(rb(""), "--check")
	want := "+ web: allow;+ api: deny;+ *: deny;~ h1's agent denies web (Default behavior configured by ACLs)"
	if r.Exit != tasktest.ExitDrift || changes(r, "db") != want {
		t.Fatalf("first check: want %s\n%s", want, r)
	}
	if got := entrySources(t, agent.Client, "db"); got != "other=allow" {
		t.Fatalf("check mode wrote the entry: %s", got)
	}
	if r = env.Apply(rb("")); r.Exit != tasktest.ExitOK || r.Result("db").Status != engine.Changed {
		t.Fatalf("apply: %s", r)
	}
	if got := entrySources(t, agent.Client, "db"); got != "other=allow,web=allow,api=deny,*=deny" {
		t.Fatalf("entry after apply: %s", got)
	}
	token := operator(t, agent)
	if r = env.Apply(intentions(token, ""), "--check"); r.Exit != tasktest.ExitOK || r.Result("db").Status != engine.OK {
		t.Fatalf("second check: %s", r)
	}
	leaks(t, r, token)

	// The runbook's web is denied by hand: drift, as the entry has it and
	// as the agent answers.
	setSource(t, agent.Client, "db", "web", "deny")
	r = env.Apply(rb(""), "--check")
	want = "~ web: deny -> allow;~ h1's agent denies web (Matched L4 intention: default/web => default/db (Precedence: 9, Action: DENY))"
	if r.Exit != tasktest.ExitDrift || changes(r, "db") != want {
		t.Fatalf("drift check: want %s\n%s", want, r)
	}
	if r = env.Apply(rb("")); r.Exit != tasktest.ExitOK || r.Result("db").Status != engine.Changed {
		t.Fatalf("apply after drift: %s", r)
	}
	if got := entrySources(t, agent.Client, "db"); got != "other=allow,web=allow,api=deny,*=deny" {
		t.Fatalf("entry after the repair: %s", got)
	}
	if r = env.Apply(rb(""), "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after drift: %s", r)
	}

	// Exclusive: the sources the runbook does not list go.
	if r = env.Apply(rb("      exclusive: true\n"), "--check"); r.Exit != tasktest.ExitDrift || changes(r, "db") != "- other: allow (not in the runbook)" {
		t.Fatalf("exclusive check: %s", r)
	}
	if r = env.Apply(rb("      exclusive: true\n")); r.Exit != tasktest.ExitOK || entrySources(t, agent.Client, "db") != "web=allow,api=deny,*=deny" {
		t.Fatalf("exclusive apply: %s", r)
	}
	if r = env.Apply(rb("      exclusive: true\n"), "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("exclusive second check: %s", r)
	}
}

// The entries consul_intention and Consul's older intentions API made are
// read and merged; consul_intention still works on them afterwards.
func TestIntentionsMergesOlderIntentions(t *testing.T) {
	agent := consultest.Start(t, consultest.ACLs(management))
	env := tasktest.New(t)
	old := func(action string) string {
		return fmt.Sprintf("steps:\n  - {name: old, hosts: h1, task: consul_intention, with: {agent: %s, token: %s, source: web, destination: db, action: %s}}\n", agent.Addr, management, action)
	}
	if r := env.Apply(old("allow")); r.Exit != tasktest.ExitOK {
		t.Fatalf("consul_intention: %s", r)
	}
	//lint:ignore SA1019 the deprecated API is what made legacy intentions
	legacyID, _, err := agent.Client.Connect().IntentionCreate(&api.Intention{SourceName: "api", DestinationName: "cache", Action: api.IntentionActionAllow}, nil)
	if err != nil || legacyID == "" {
		t.Fatalf("a legacy intention: %q, %v", legacyID, err)
	}
	// db's entry is consul_intention's, cache's the legacy API's, and new
	// has none yet (its source is denied before and after).
	rb := func() string {
		return fmt.Sprintf(`
steps:
  - {name: db, hosts: h1, task: consul_intentions, with: {agent: %[1]s, token: %[2]s, destination: db, sources: [{name: fcc, action: allow}]}}
  - {name: cache, hosts: h1, task: consul_intentions, with: {agent: %[1]s, token: %[2]s, destination: cache, sources: [{name: api, action: allow}]}}
  - {name: new, hosts: h1, task: consul_intentions, with: {agent: %[1]s, token: %[2]s, destination: new, sources: [{name: x, action: deny}]}}
`, agent.Addr, operator(t, agent))
	}
	r := env.Apply(rb(), "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "db") != "+ fcc: allow;+ *: deny;~ h1's agent denies fcc (Default behavior configured by ACLs)" ||
		changes(r, "cache") != "+ *: deny" || changes(r, "new") != "+ x: deny;+ *: deny" {
		t.Fatalf("check: %s", r)
	}
	if r = env.Apply(rb()); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	for dest, want := range map[string]string{"db": "web=allow,fcc=allow,*=deny", "cache": "api=allow,*=deny", "new": "x=deny,*=deny"} {
		if got := entrySources(t, agent.Client, dest); got != want {
			t.Fatalf("%s's entry: %s, want %s", dest, got, want)
		}
	}
	e, _, err := agent.Client.ConfigEntries().Get(api.ServiceIntentions, "cache", nil)
	if err != nil || e.(*api.ServiceIntentionsConfigEntry).Sources[0].LegacyID != "" {
		t.Fatalf("the legacy intention after the merge: %+v, %v", e, err)
	}
	if r = env.Apply(rb(), "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}
	if r = env.Apply(old("allow"), "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("consul_intention after the merge: %s", r)
	}
	if r = env.Apply(old("deny")); r.Exit != tasktest.ExitOK || entrySources(t, agent.Client, "db") != "web=deny,fcc=allow,*=deny" {
		t.Fatalf("consul_intention changes its intention after the merge: %s", r)
	}
}

// An agent whose cache of the intentions is not refreshed (here: its
// cache may fetch once in 1000s) answers from a stale view, as fcs00's
// agent did in the lab: check says so though the servers are right, and
// apply fails naming the agent.
func TestIntentionsStaleAgent(t *testing.T) {
	agent := consultest.Start(t, consultest.ACLs(management),
		consultest.Config("cache {\n  entry_fetch_rate = 0.001\n  entry_fetch_max_burst = 1\n}\n"))
	env := tasktest.New(t)
	if _, _, err := agent.Client.ConfigEntries().Set(&api.ServiceIntentionsConfigEntry{Kind: api.ServiceIntentions, Name: "db",
		Sources: []*api.SourceIntention{{Name: "fcc", Action: api.IntentionActionDeny}, {Name: "*", Action: api.IntentionActionDeny}}}, nil); err != nil {
		t.Fatal(err)
	}
	rb := fmt.Sprintf(`
steps:
  - name: db
    hosts: h1
    task: consul_intentions
    with: {agent: %s, token: %s, destination: db, sources: [{name: fcc, action: allow, description: "every source not listed"}], timeout: 2s}
`, agent.Addr, management)
	deny := "(Matched L4 intention: default/fcc => default/db (Precedence: 9, Action: DENY))"

	r := env.Apply(strings.Replace(rb, `description: "every source not listed"`, `description: ""`, 1), "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "db") != `~ fcc: deny -> allow;~ *: description "" -> "every source not listed";~ h1's agent denies fcc `+deny {
		t.Fatalf("check: %s", r)
	}
	r = env.Apply(rb)
	want := "after 2s, h1's agent still denies fcc, the servers allow it " + deny + ": the servers have the intentions of db as asked, but that agent answers from a stale view of them"
	if msg := r.Result("db").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, want) {
		t.Fatalf("apply to a stale agent: want %q in %q\n%s", want, msg, r)
	}
	if got := entrySources(t, agent.Client, "db"); got != "fcc=allow,*=deny" {
		t.Fatalf("the servers' entry: %s", got)
	}
	r = env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "db") != "~ h1's agent denies fcc, the servers allow it "+deny {
		t.Fatalf("check of a stale agent: %s", r)
	}
}

func TestIntentionsValidate(t *testing.T) {
	env := tasktest.New(t)
	for _, c := range []struct{ with, want string }{
		{"destination: db, sources: [{name: '*', action: allow}]", "give * as default: allow, or set default: none"},
		{"destination: db, sources: [{name: a, action: allow}, {name: a, action: deny}]", "a is listed twice"},
		{"destination: db, sources: [{name: a, action: maybe}]", "action must be allow or deny"},
		{"destination: db, default: none", "list at least one, or set default"},
	} {
		r := env.Apply("steps:\n  - {name: i, hosts: h1, task: consul_intentions, with: {"+c.with+"}}\n", "--check")
		if r.Exit != tasktest.ExitError || !strings.Contains(r.String(), c.want) {
			t.Errorf("%s: want %q\n%s", c.with, c.want, r)
		}
	}
}

// The agent answers authorize from a view of the intentions it keeps per
// token, so what matters is the view of the token the destination's
// sidecar asks with: authorize_token is sent instead of token. A token
// that may not ask fails the check, which shows it is the one sent.
func TestIntentionsAuthorizeAsTheSidecar(t *testing.T) {
	agent := consultest.Start(t, consultest.ACLs(management))
	mk := func(tok *api.ACLToken) string {
		out, _, err := agent.Client.ACL().TokenCreate(tok, nil)
		if err != nil {
			t.Fatal(err)
		}
		return out.SecretID
	}
	sidecar := mk(&api.ACLToken{Description: "fcs's sidecar", ServiceIdentities: []*api.ACLServiceIdentity{{ServiceName: "fcs"}}})
	nobody := mk(&api.ACLToken{Description: "no policy"})
	env := tasktest.New(t)
	rb := func(authorize string) string {
		return fmt.Sprintf(`
steps:
  - name: fcs
    hosts: h1
    task: consul_intentions
    with: {agent: %s, token: !secret %s, authorize_token: !secret %s, destination: fcs, sources: [{name: fcc, action: allow}]}
`, agent.Addr, operator(t, agent), authorize)
	}
	r := env.Apply(rb(nobody))
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Result("fcs").Message, "403") {
		t.Fatalf("with a token that may not ask: %s", r)
	}
	if r = env.Apply(rb(sidecar)); r.Exit != tasktest.ExitOK {
		t.Fatalf("with the sidecar's token: %s", r)
	}
	if r = env.Apply(rb(sidecar), "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check with the sidecar's token: %s", r)
	}
	for _, tok := range []string{sidecar, nobody} {
		if strings.Contains(r.String(), tok) {
			t.Fatal("a token is in the output")
		}
	}
}
