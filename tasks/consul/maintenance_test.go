package consul_test

import (
	"fmt"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/consultest"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// inMaintenance reads, from the servers' catalog, whether the service
// (or, with id "", the node) is in maintenance.
func inMaintenance(t *testing.T, c *api.Client, id string) bool {
	t.Helper()
	node, err := c.Agent().NodeName()
	if err != nil {
		t.Fatal(err)
	}
	checks, _, err := c.Health().Node(node, &api.QueryOptions{RequireConsistent: true})
	if err != nil {
		t.Fatal(err)
	}
	want := api.NodeMaint
	if id != "" {
		want = api.ServiceMaintPrefix + id
	}
	for _, ch := range checks {
		if ch.CheckID == want {
			return true
		}
	}
	return false
}

// A service is drained (taken out of what its consumers are routed to)
// and put back: the catalog shows it by the time the step is done.
func TestMaintenanceTimeline(t *testing.T) {
	agent := consultest.Start(t)
	env := tasktest.New(t)
	if err := agent.Client.Agent().ServiceRegister(&api.AgentServiceRegistration{ID: "fcs", Name: "fcs", Port: 8181}); err != nil {
		t.Fatal(err)
	}
	step := func(state string) string {
		return fmt.Sprintf(`
steps:
  - name: drain
    hosts: h1
    task: consul_maintenance
    with: {agent: %s, service: fcs, state: %s, reason: "sidecar restart"}
`, agent.Addr, state)
	}
	on, off := step("enabled"), step("disabled")

	if r := env.Apply(off, "--check"); r.Exit != tasktest.ExitOK || r.Result("drain").Status != engine.OK {
		t.Fatalf("not in maintenance, check disabled: %s", r)
	}
	r := env.Apply(on, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "drain") != "+ maintenance of service fcs: sidecar restart" {
		t.Fatalf("first check: %s", r)
	}
	if inMaintenance(t, agent.Client, "fcs") {
		t.Fatal("check mode put the service in maintenance")
	}
	if r = env.Apply(on); r.Exit != tasktest.ExitOK || r.Result("drain").Status != engine.Changed {
		t.Fatalf("apply: %s", r)
	}
	if !inMaintenance(t, agent.Client, "fcs") {
		t.Fatal("the catalog does not show the maintenance when the step is done")
	}
	if r = env.Apply(on, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}
	// Drift: someone ends it by hand.
	if err := agent.Client.Agent().DisableServiceMaintenance("fcs"); err != nil {
		t.Fatal(err)
	}
	if r = env.Apply(on, "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("drift check: %s", r)
	}
	if r = env.Apply(on); r.Exit != tasktest.ExitOK || !inMaintenance(t, agent.Client, "fcs") {
		t.Fatalf("apply after drift: %s", r)
	}
	// Back in service.
	if r = env.Apply(off, "--check"); r.Exit != tasktest.ExitDrift || changes(r, "drain") != "- maintenance of service fcs" {
		t.Fatalf("check disabled: %s", r)
	}
	if r = env.Apply(off); r.Exit != tasktest.ExitOK || inMaintenance(t, agent.Client, "fcs") {
		t.Fatalf("disable: %s", r)
	}
	if r = env.Apply(off, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after disable: %s", r)
	}

	// The whole node.
	node := fmt.Sprintf("steps:\n  - {name: drain, hosts: h1, task: consul_maintenance, with: {agent: %s, state: enabled}}\n", agent.Addr)
	if r = env.Apply(node); r.Exit != tasktest.ExitOK || !inMaintenance(t, agent.Client, "") {
		t.Fatalf("node maintenance: %s", r)
	}

	// A service the agent does not run is an error, not a silent ok.
	missing := fmt.Sprintf("steps:\n  - {name: drain, hosts: h1, task: consul_maintenance, with: {agent: %s, service: nope, state: enabled}}\n", agent.Addr)
	if r = env.Apply(missing); r.Exit == tasktest.ExitOK {
		t.Fatalf("maintenance of a service the agent does not run: %s", r)
	}
}
