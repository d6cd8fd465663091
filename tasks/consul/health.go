package consul

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "consul_health",
		Doc: "Waits (it does not sleep) until every check of the given services passes on the host's Consul agent, " +
			"e.g. a service and its sidecar proxy. It changes nothing: ok when they pass already; in check mode, " +
			"services that do not pass are reported as would change.",
		New: func() tasks.Task { return new(Health) },
	})
}

// Health is the `consul_health` task's parameters.
type Health struct {
	Agent    `yaml:",inline"`
	Services []string      `yaml:"services" required:"true" doc:"service IDs on this agent, e.g. [fcs, fcs-sidecar-proxy]"`
	Timeout  time.Duration `yaml:"timeout" doc:"how long to wait at most; default 2m"`
	Interval time.Duration `yaml:"interval" doc:"time between looks; default 1s"`
}

// Validate checks the parameters.
func (hc *Health) Validate() error {
	if len(hc.Services) == 0 {
		return errors.New("services: give at least one service ID")
	}
	return nil
}

// Check looks once; Apply waits.
func (hc *Health) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, err := hc.client(h)
	if err != nil {
		return nil, err
	}
	bad, err := unhealthy(ctx, c, hc.Services)
	if err != nil {
		return nil, tasks.DependsOnEarlier(err) // the agent may be what an earlier step installs
	}
	if len(bad) == 0 {
		return tasks.NoChange(), nil
	}
	timeout, interval := hc.Timeout, hc.Interval
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	if interval == 0 {
		interval = time.Second
	}
	change := &tasks.Change{Summary: []string{"wait until passing: " + strings.Join(bad, "; ")}}
	change.Apply = func(ctx context.Context) (tasks.Done, error) {
		start := time.Now()
		if err := waitPassing(ctx, h, c, hc.Services, timeout, interval); err != nil {
			return tasks.Done{}, err
		}
		return tasks.Done{Summary: []string{"passing after " + time.Since(start).Round(100*time.Millisecond).String()}}, nil
	}
	return change, nil
}
