package consul

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/poll"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "consul_cluster",
		Doc: "Waits (it does not sleep) until the Consul cluster, seen from the host's agent, has a leader, " +
			"the expected number of voting servers, and every expected member alive. It changes nothing: " +
			"ok when the cluster is already so; in check mode, a cluster that is not yet so is reported as would change.",
		New: func() tasks.Task { return new(Cluster) },
	})
}

// Cluster is the `consul_cluster` task's parameters.
type Cluster struct {
	Agent    `yaml:",inline"`
	Voters   int           `yaml:"voters" doc:"how many voting servers there must be"`
	Members  []string      `yaml:"members" doc:"node names that must be alive members"`
	Timeout  time.Duration `yaml:"timeout" doc:"how long to wait at most; default 2m"`
	Interval time.Duration `yaml:"interval" doc:"time between looks; default 1s"`
}

// Check looks once; Apply waits.
func (cl *Cluster) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, err := cl.client(h)
	if err != nil {
		return nil, err
	}
	missing, err := cl.missing(ctx, c)
	if err != nil {
		return nil, tasks.DependsOnEarlier(err) // the agent may be what an earlier step installs
	}
	if len(missing) == 0 {
		return tasks.NoChange(), nil
	}
	timeout := cl.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	interval := cl.Interval
	if interval == 0 {
		interval = time.Second
	}
	change := &tasks.Change{Summary: []string{"wait for " + strings.Join(missing, ", ")}}
	change.Apply = func(ctx context.Context) (tasks.Done, error) {
		waited, why, err := poll.Until(ctx, timeout, interval, func(ctx context.Context) (bool, string, error) {
			missing, err := cl.missing(ctx, c)
			if err != nil {
				return false, err.Error(), nil // the agent may be starting: keep looking
			}
			return len(missing) == 0, strings.Join(missing, ", "), nil
		})
		if errors.Is(err, poll.ErrGaveUp) {
			return tasks.Done{}, fmt.Errorf("the cluster is not ready after %s: still %s", timeout, why)
		}
		if err != nil {
			return tasks.Done{}, err
		}
		return tasks.Done{Summary: []string{fmt.Sprintf("cluster ready after %s", waited.Round(100*time.Millisecond))}}, nil
	}
	return change, nil
}

// missing says what the cluster still lacks. An agent that answers with
// an error (no leader yet, a server gone) is a cluster not yet as asked;
// only an agent that cannot be reached at all is an error.
func (cl *Cluster) missing(ctx context.Context, c *api.Client) ([]string, error) {
	var out []string
	q := (&api.QueryOptions{}).WithContext(ctx)
	leader, err := c.Status().LeaderWithQueryOptions(q)
	if err != nil {
		return answered(err, "a leader")
	}
	if leader == "" {
		return []string{"a leader"}, nil
	}
	if cl.Voters > 0 {
		voters, err := countVoters(c, q)
		if err != nil {
			return answered(err, fmt.Sprintf("%d voters", cl.Voters))
		}
		if voters < cl.Voters {
			out = append(out, fmt.Sprintf("%d voters (has %d)", cl.Voters, voters))
		}
	}
	if len(cl.Members) > 0 {
		members, err := c.Agent().MembersOpts(api.MembersOpts{})
		if err != nil {
			return answered(err, "members")
		}
		var alive []string
		for _, m := range members {
			if m.Status == 1 { // serf: alive
				alive = append(alive, m.Name)
			}
		}
		for _, want := range cl.Members {
			if !slices.Contains(alive, want) {
				out = append(out, want+" alive")
			}
		}
	}
	return out, nil
}

// countVoters counts the voting servers in the raft configuration. Where
// ACLs deny the token operator:read (a cluster whose ACLs are not
// bootstrapped yet has no token that may), it counts the raft peers, which
// needs no token: the servers runbook starts all vote.
func countVoters(c *api.Client, q *api.QueryOptions) (int, error) {
	raft, err := c.Operator().RaftGetConfiguration(q)
	var se api.StatusError
	if errors.As(err, &se) && se.Code == 403 {
		peers, err := c.Status().PeersWithQueryOptions(q)
		return len(peers), err
	}
	if err != nil {
		return 0, err
	}
	voters := 0
	for _, s := range raft.Servers {
		if s.Voter {
			voters++
		}
	}
	return voters, nil
}

// answered turns an error the agent answered with into what is missing,
// and passes on an agent that did not answer.
func answered(err error, what string) ([]string, error) {
	var se api.StatusError
	if errors.As(err, &se) {
		return []string{fmt.Sprintf("%s (%s)", what, strings.TrimSpace(se.Body))}, nil
	}
	return nil, err
}
