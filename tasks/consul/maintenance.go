package consul

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/poll"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "consul_maintenance",
		Doc: "Puts a service on the host's Consul agent (or the whole node) in maintenance mode, or takes it out: " +
			"a service in maintenance fails its health, so Connect upstreams and DNS stop sending it connections " +
			"(a drain before a restart). Check mode reads the agent's checks; apply waits until the servers' " +
			"catalog shows the change, which is what consumers are routed by.",
		New: func() tasks.Task { return new(Maintenance) },
	})
}

// Maintenance is the `consul_maintenance` task's parameters.
type Maintenance struct {
	Agent   `yaml:",inline"`
	Service string        `yaml:"service" doc:"the service ID on this agent, e.g. fcs-sidecar-proxy; empty: the whole node"`
	State   string        `yaml:"state" required:"true" doc:"enabled (in maintenance: drained) or disabled (back in service)"`
	Reason  string        `yaml:"reason" doc:"why, shown in the maintenance check's notes; default \"runbook\""`
	Wait    time.Duration `yaml:"wait" doc:"how long to wait at most for the servers' catalog to show the change; default 30s"`
}

// Validate checks the parameters.
func (m *Maintenance) Validate() error {
	if m.State != "enabled" && m.State != "disabled" {
		return fmt.Errorf("state: %s: want enabled (drain) or disabled (back in service)", decode.Quote(m.State))
	}
	return nil
}

// checkID is the ID of the critical check the agent adds in maintenance.
func (m *Maintenance) checkID() string {
	if m.Service == "" {
		return api.NodeMaint
	}
	return api.ServiceMaintPrefix + m.Service
}

func (m *Maintenance) what() string {
	if m.Service == "" {
		return "the node"
	}
	return "service " + m.Service
}

// Check reads the agent's own checks: the maintenance check is there
// while it lasts.
func (m *Maintenance) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, err := m.client(h)
	if err != nil {
		return nil, err
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	if m.Service != "" {
		if _, _, err := c.Agent().Service(m.Service, q); err != nil {
			if notFound(err) {
				return nil, fmt.Errorf("maintenance of service %s: the agent runs no service with that ID", decode.Quote(m.Service))
			}
			return nil, tasks.DependsOnEarlier(fmt.Errorf("read service %s on the agent: %w", m.Service, err))
		}
	}
	checks, err := c.Agent().ChecksWithFilterOpts("", q)
	if err != nil {
		return nil, tasks.DependsOnEarlier(fmt.Errorf("read the agent's checks: %w", err))
	}
	_, on := checks[m.checkID()]
	want := m.State == "enabled"
	if on == want {
		return tasks.NoChange(), nil
	}
	reason := m.Reason
	if reason == "" {
		reason = "runbook"
	}
	summary := "- maintenance of " + m.what()
	if want {
		summary = "+ maintenance of " + m.what() + ": " + reason
	}
	change := &tasks.Change{Summary: []string{summary}}
	change.Apply = func(ctx context.Context) (tasks.Done, error) {
		if err := m.set(c, want, reason); err != nil {
			return tasks.Done{}, err
		}
		start := time.Now()
		if err := m.waitCatalog(ctx, c, want); err != nil {
			return tasks.Done{}, err
		}
		return tasks.Done{Summary: []string{fmt.Sprintf("%s (the catalog showed it after %s)", summary, time.Since(start).Round(10*time.Millisecond))}}, nil
	}
	return change, nil
}

func (m *Maintenance) set(c *api.Client, on bool, reason string) error {
	var err error
	switch {
	case m.Service == "" && on:
		err = c.Agent().EnableNodeMaintenance(reason)
	case m.Service == "":
		err = c.Agent().DisableNodeMaintenance()
	case on:
		err = c.Agent().EnableServiceMaintenance(m.Service, reason)
	default:
		err = c.Agent().DisableServiceMaintenance(m.Service)
	}
	if err != nil {
		return fmt.Errorf("maintenance of %s: %w", m.what(), err)
	}
	return nil
}

// waitCatalog waits until the servers (a consistent read, through the
// leader) hold the agent's change: consumers find instances there, so
// a drained instance gets no new connection once this returns.
func (m *Maintenance) waitCatalog(ctx context.Context, c *api.Client, on bool) error {
	node, err := c.Agent().NodeName()
	if err != nil {
		return fmt.Errorf("read the agent's node name: %w", err)
	}
	wait := m.Wait
	if wait == 0 {
		wait = 30 * time.Second
	}
	_, _, err = poll.Until(ctx, wait, 100*time.Millisecond, func(ctx context.Context) (bool, string, error) {
		checks, _, err := c.Health().Node(node, (&api.QueryOptions{RequireConsistent: true}).WithContext(ctx))
		if err != nil {
			return false, "", fmt.Errorf("read node %s's checks in the catalog: %w", node, err)
		}
		for _, ch := range checks {
			if ch.CheckID == m.checkID() {
				return on, "", nil
			}
		}
		return !on, "", nil
	})
	if errors.Is(err, poll.ErrGaveUp) {
		return fmt.Errorf("maintenance of %s: the servers' catalog did not show it after %s (is the agent in sync with the servers?)", m.what(), wait)
	}
	return err
}
