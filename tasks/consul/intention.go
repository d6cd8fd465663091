package consul

import (
	"context"
	"fmt"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "consul_intention",
		Doc: "A Connect intention: whether source may reach destination through the mesh (allow or deny), " +
			"set through the host's Consul agent. Run it on one host. Source or destination * means every service.",
		New: func() tasks.Task { return new(Intention) },
	})
}

// Intention is the `consul_intention` task's parameters.
type Intention struct {
	Agent       `yaml:",inline"`
	Source      string `yaml:"source" required:"true" doc:"the calling service, or *"`
	Destination string `yaml:"destination" required:"true" doc:"the called service, or *"`
	Action      string `yaml:"action" required:"true" doc:"allow or deny"`
	Description string `yaml:"description" doc:"why, for people reading Consul"`
	State       string `yaml:"state" doc:"present (default) or absent"`
}

// Validate checks the parameters.
func (i *Intention) Validate() error {
	if i.Action != "allow" && i.Action != "deny" {
		return fmt.Errorf("action must be allow or deny, got %q", i.Action)
	}
	if i.State != "" && i.State != "present" && i.State != "absent" {
		return fmt.Errorf("state must be present or absent, got %q", i.State)
	}
	return nil
}

// Check reads the intention from the cluster.
func (i *Intention) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, err := i.client(h)
	if err != nil {
		return nil, err
	}
	have, _, err := c.Connect().IntentionGetExact(i.Source, i.Destination, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, tasks.DependsOnEarlier(fmt.Errorf("read intention %s -> %s: %w", i.Source, i.Destination, err))
	}
	name := fmt.Sprintf("%s -> %s", i.Source, i.Destination)
	change := &tasks.Change{}
	write := func(ctx context.Context) (tasks.Done, error) {
		ixn := &api.Intention{SourceName: i.Source, DestinationName: i.Destination, Action: api.IntentionAction(i.Action), Description: i.Description}
		_, err := c.Connect().IntentionUpsert(ixn, (&api.WriteOptions{}).WithContext(ctx))
		return tasks.Done{}, err
	}
	switch {
	case i.State == "absent" && have != nil:
		change.Summary = []string{"- intention " + name}
		change.Apply = func(ctx context.Context) (tasks.Done, error) {
			_, err := c.Connect().IntentionDeleteExact(i.Source, i.Destination, (&api.WriteOptions{}).WithContext(ctx))
			return tasks.Done{}, err
		}
	case i.State == "absent":
	case have == nil:
		change.Summary = []string{fmt.Sprintf("+ intention %s: %s", name, i.Action)}
		change.Apply = write
	case string(have.Action) != i.Action:
		change.Summary = []string{fmt.Sprintf("~ intention %s: %s -> %s", name, have.Action, i.Action)}
		change.Apply = write
	}
	return change, nil
}
