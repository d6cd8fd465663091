package consul_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/consultest"
	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/consul"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// The host is this machine's sshd and its agent a dev agent on loopback:
// the modules reach the agent through the SSH connection, as they reach a
// host's agent in production.

func changes(r tasktest.Run, step string) string { return strings.Join(r.Result(step).Changes, ";") }

func TestServiceTimeline(t *testing.T) {
	agent := consultest.Start(t)
	env := tasktest.New(t)
	rb := fmt.Sprintf(`
steps:
  - name: fcs
    hosts: h1
    task: consul_service
    with: {agent: %s, name: fcs, port: 8181, tags: [v1], sidecar: true, upstreams: [{service: db, local_port: 9191}]}
`, agent.Addr)

	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "fcs") != "+ register service fcs (port 8181, with a sidecar)" {
		t.Fatalf("first check: %s", r)
	}
	if svc, _, _ := agent.Client.Agent().Service("fcs", nil); svc != nil {
		t.Fatalf("check mode registered %+v", svc)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("fcs").Status != engine.Changed {
		t.Fatalf("apply: %s", r)
	}
	svc, _, err := agent.Client.Agent().Service("fcs", nil)
	if err != nil || svc.Port != 8181 || strings.Join(svc.Tags, ",") != "v1" {
		t.Fatalf("registered %+v, %v", svc, err)
	}
	proxy, _, err := agent.Client.Agent().Service("fcs-sidecar-proxy", nil)
	if err != nil || proxy.Proxy == nil || len(proxy.Proxy.Upstreams) != 1 || proxy.Proxy.Upstreams[0].LocalBindPort != 9191 {
		t.Fatalf("sidecar %+v, %v", proxy, err)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK || r.Result("fcs").Status != engine.OK {
		t.Fatalf("second check: %s", r)
	}

	// Drift: someone moves the service to another port by hand and drops
	// its sidecar.
	if err := agent.Client.Agent().ServiceDeregister("fcs-sidecar-proxy"); err != nil {
		t.Fatal(err)
	}
	if err := agent.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "fcs", Name: "fcs", Port: 9999, Tags: []string{"v1"}}); err != nil {
		t.Fatal(err)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitDrift || changes(r, "fcs") != "~ port 9999 -> 8181;+ sidecar" {
		t.Fatalf("drift check: %s", r)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply after drift: %s", r)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after drift: %s", r)
	}

	absent := fmt.Sprintf("steps:\n  - {name: fcs, hosts: h1, task: consul_service, with: {agent: %s, name: fcs, state: absent}}\n", agent.Addr)
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitDrift || changes(r, "fcs") != "- deregister service fcs" {
		t.Fatalf("absent, check: %s", r)
	}
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK || r.Result("fcs").Status != engine.Changed {
		t.Fatalf("absent, apply: %s", r)
	}
	if svc, _, _ := agent.Client.Agent().Service("fcs", nil); svc != nil {
		t.Fatalf("still registered: %+v", svc)
	}
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent, second check: %s", r)
	}
}

func TestIntentionTimeline(t *testing.T) {
	agent := consultest.Start(t)
	env := tasktest.New(t)
	rb := fmt.Sprintf("steps:\n  - {name: web-db, hosts: h1, task: consul_intention, with: {agent: %s, source: web, destination: db, action: allow}}\n", agent.Addr)
	action := func() string {
		t.Helper()
		ixn, _, err := agent.Client.Connect().IntentionGetExact("web", "db", nil)
		if err != nil {
			t.Fatal(err)
		}
		if ixn == nil {
			return "none"
		}
		return string(ixn.Action)
	}

	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "web-db") != "+ intention web -> db: allow" {
		t.Fatalf("first check: %s", r)
	}
	if got := action(); got != "none" {
		t.Fatalf("check mode wrote the intention: %s", got)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("web-db").Status != engine.Changed || action() != "allow" {
		t.Fatalf("apply: %s", r)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK || r.Result("web-db").Status != engine.OK {
		t.Fatalf("second check: %s", r)
	}

	// Drift: someone denies it by hand.
	if _, err := agent.Client.Connect().IntentionUpsert(&api.Intention{SourceName: "web", DestinationName: "db", Action: api.IntentionActionDeny}, nil); err != nil {
		t.Fatal(err)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitDrift || changes(r, "web-db") != "~ intention web -> db: deny -> allow" {
		t.Fatalf("drift check: %s", r)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || action() != "allow" {
		t.Fatalf("apply after drift: %s", r)
	}

	absent := strings.Replace(rb, "action: allow", "action: allow, state: absent", 1)
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitDrift || changes(r, "web-db") != "- intention web -> db" {
		t.Fatalf("absent, check: %s", r)
	}
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK || action() != "none" {
		t.Fatalf("absent, apply: %s", r)
	}
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent, second check: %s", r)
	}
}

// consul_health changes nothing: what converges is the service, here a TTL
// check the test passes and fails as the service would.
func TestHealthTimeline(t *testing.T) {
	agent := consultest.Start(t)
	env := tasktest.New(t)
	err := agent.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "ttl", Name: "ttl", Check: &api.AgentServiceCheck{CheckID: "ttl", TTL: "10m"}})
	if err != nil {
		t.Fatal(err)
	}
	health := func(timeout string) string {
		return fmt.Sprintf("steps:\n  - {name: ttl, hosts: h1, task: consul_health, with: {agent: %s, services: [ttl], timeout: %s, interval: 100ms}}\n", agent.Addr, timeout)
	}

	r := env.Apply(health("1m"), "--check")
	if r.Exit != tasktest.ExitDrift || !strings.HasPrefix(changes(r, "ttl"), "wait until passing: ttl critical") {
		t.Fatalf("first check: %s", r)
	}
	passed := make(chan error, 1)
	go func() {
		// Long enough that the apply, even on a loaded machine, finds
		// the check critical first and has to wait.
		time.Sleep(2 * time.Second)
		passed <- agent.Client.Agent().PassTTL("ttl", "serving")
	}()
	r = env.Apply(health("1m"))
	if err := <-passed; err != nil {
		t.Fatal(err)
	}
	if r.Exit != tasktest.ExitOK || r.Result("ttl").Status != engine.Changed || !strings.HasPrefix(changes(r, "ttl"), "passing after ") {
		t.Fatalf("apply: %s", r)
	}
	if r = env.Apply(health("1m"), "--check"); r.Exit != tasktest.ExitOK || r.Result("ttl").Status != engine.OK {
		t.Fatalf("second check: %s", r)
	}

	// Drift: the service fails its check.
	if err := agent.Client.Agent().FailTTL("ttl", "disk full"); err != nil {
		t.Fatal(err)
	}
	if r = env.Apply(health("1m"), "--check"); r.Exit != tasktest.ExitDrift || changes(r, "ttl") != "wait until passing: ttl critical: disk full" {
		t.Fatalf("drift check: %s", r)
	}
	r = env.Apply(health("1s"))
	if msg := r.Result("ttl").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "not healthy after 1s: ttl critical: disk full") {
		t.Fatalf("apply while failing: %q\n%s", msg, r)
	}
}

// consul_cluster changes nothing either: it says what the cluster lacks,
// and waits for it only so long.
func TestClusterTimeline(t *testing.T) {
	agent := consultest.Start(t)
	env := tasktest.New(t)
	node, err := agent.Client.Agent().NodeName()
	if err != nil {
		t.Fatal(err)
	}
	cluster := func(voters int, members string) string {
		return fmt.Sprintf("steps:\n  - {name: ready, hosts: h1, task: consul_cluster, with: {agent: %s, voters: %d, members: [%s], timeout: 1s, interval: 100ms}}\n", agent.Addr, voters, members)
	}

	ready := cluster(1, node)
	if r := env.Apply(ready, "--check"); r.Exit != tasktest.ExitOK || r.Result("ready").Status != engine.OK {
		t.Fatalf("check of a ready cluster: %s", r)
	}
	if r := env.Apply(ready); r.Exit != tasktest.ExitOK || r.Result("ready").Status != engine.OK {
		t.Fatalf("apply to a ready cluster: %s", r)
	}

	// A cluster short of what the runbook asks for.
	short := cluster(2, node+", ghost")
	r := env.Apply(short, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "ready") != "wait for 2 voters (has 1), ghost alive" {
		t.Fatalf("check of a short cluster: %s", r)
	}
	r = env.Apply(short)
	if msg := r.Result("ready").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "the cluster is not ready after 1s: still 2 voters (has 1), ghost alive") {
		t.Fatalf("apply to a short cluster: %q\n%s", msg, r)
	}
}

// Servers whose ACLs are on but not bootstrapped yet (bootstrap.yaml waits
// for its servers before the bootstrap) let no token read the raft
// configuration: the voters are counted from the raft peers, which need
// none, and the wait ends.
func TestClusterVotersBeforeTheACLBootstrap(t *testing.T) {
	agent := consultest.Start(t, consultest.ACLs(""))
	env := tasktest.New(t)
	rb := fmt.Sprintf("steps:\n  - {name: ready, hosts: h1, task: consul_cluster, with: {agent: %s, voters: 1, token: !secret 6b2c9a55-2c3e-4f7b-9d0e-2f1c3a4b5c6d, timeout: 5s, interval: 100ms}}\n", agent.Addr)
	if r := env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("ready").Status != engine.OK {
		t.Fatalf("apply: %s", r)
	}
}
