package consul

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "consul_acl_bootstrap",
		Doc: "Bootstraps Consul's ACL system with a management token the runbook made (its SecretID, generated once, " +
			"e.g. {{ secret \"consul/management\" \"uuid\" }}): ok when that token works and is a management token. " +
			"Run it on one server (run_once). When the cluster was bootstrapped with another token, it fails, saying " +
			"the reset index and how to reset: write the index to <data_dir>/acl-bootstrap-reset on the leader, then run " +
			"again (Consul's docs, secure/acl/reset: \"Reset Access Control List (ACL) system\"). " +
			"The token is never printed.",
		New: func() tasks.Task { return new(ACLBootstrap) },
	})
}

// ACLBootstrap is the `consul_acl_bootstrap` task's parameters.
type ACLBootstrap struct {
	Address string `yaml:"agent" doc:"the local agent's HTTP address, on the host; default 127.0.0.1:8500"`
	Token   string `yaml:"token" required:"true" doc:"the management token's SecretID to bootstrap with (mark it !secret, or use the secret function)"`
}

// globalManagement is the ID of Consul's built-in management policy.
const globalManagement = "00000000-0000-0000-0000-000000000001"

// Check asks the agent whether the token is already the management token.
// Whether the cluster could still be bootstrapped cannot be asked without
// bootstrapping it, so a token the agent does not know is a change.
func (b *ACLBootstrap) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, err := Agent{Address: b.Address, Token: b.Token}.client(h)
	if err != nil {
		return nil, err
	}
	known, err := b.isManagement(ctx, h, c)
	if err != nil {
		return nil, err
	}
	if known {
		return tasks.NoChange(), nil
	}
	change := &tasks.Change{Summary: []string{"+ bootstrap ACLs"}}
	change.Apply = func(ctx context.Context) (tasks.Done, error) {
		done, err := b.bootstrap(ctx, h)
		return done, hide(err, b.Token)
	}
	return change, nil
}

// isManagement reports whether the agent knows the token as a management
// token; false when it does not know it at all.
func (b *ACLBootstrap) isManagement(ctx context.Context, h *tasks.Host, c *api.Client) (bool, error) {
	self, _, err := c.ACL().TokenReadSelf((&api.QueryOptions{}).WithContext(ctx))
	switch {
	case statusIs(err, 401, "ACL support disabled"):
		return false, tasks.DependsOnEarlier(fmt.Errorf("bootstrap ACLs through the agent on %s: ACLs are not enabled there: "+
			"set acl { enabled = true } in its configuration and restart it first", h.Name))
	case statusIs(err, 403, "ACL not found"):
		return false, nil
	case err != nil:
		return false, tasks.DependsOnEarlier(hide(fmt.Errorf("ask the agent on %s about the bootstrap token: %w", h.Name, err), b.Token))
	}
	var names []string
	for _, p := range self.Policies {
		if p.ID == globalManagement {
			return true, nil
		}
		names = append(names, p.Name)
	}
	has := "no policies"
	if len(names) > 0 {
		has = "policies " + strings.Join(names, ", ")
	}
	return false, fmt.Errorf("bootstrap ACLs through the agent on %s: the token is Consul's token %s, which is not a management token "+
		"(%s): give the management token's SecretID", h.Name, self.AccessorID, has)
}

var resetIndex = regexp.MustCompile(`reset index: (\d+)`)

func (b *ACLBootstrap) bootstrap(ctx context.Context, h *tasks.Host) (tasks.Done, error) {
	// Bootstrap with no token in the header: the agent has none to check.
	c, err := Agent{Address: b.Address}.client(h)
	if err != nil {
		return tasks.Done{}, err
	}
	var tok api.ACLToken
	_, err = c.Raw().Write("/v1/acl/bootstrap", &api.BootstrapRequest{BootstrapSecret: b.Token}, &tok, (&api.WriteOptions{}).WithContext(ctx))
	if err == nil {
		return tasks.Done{Summary: []string{"+ bootstrap ACLs: management token " + tok.AccessorID}}, nil
	}
	if !statusIs(err, 403, "no longer allowed") {
		return tasks.Done{}, fmt.Errorf("bootstrap ACLs through the agent on %s: %w", h.Name, err)
	}
	// Bootstrapped already: by this task, elsewhere, since Check looked?
	withToken, err2 := Agent{Address: b.Address, Token: b.Token}.client(h)
	if err2 != nil {
		return tasks.Done{}, err2
	}
	if ok, err2 := b.isManagement(ctx, h, withToken); err2 == nil && ok {
		return tasks.Done{Summary: []string{"ACLs were bootstrapped already, with this token"}}, nil
	}
	index := "N"
	if m := resetIndex.FindStringSubmatch(err.Error()); m != nil {
		index = m[1]
	}
	where := "the current leader (consul operator raft list-peers names it)"
	if leader, lerr := c.Status().LeaderWithQueryOptions((&api.QueryOptions{}).WithContext(ctx)); lerr == nil && leader != "" {
		where = "the current leader (" + leader + ")"
	}
	return tasks.Done{}, fmt.Errorf("bootstrap ACLs through the agent on %s: the cluster's ACLs were bootstrapped already, "+
		"with another token than this one (%w). If that token is lost, reset the ACL system as Consul's docs say "+
		"(secure/acl/reset): on %s, write %s to the file acl-bootstrap-reset in Consul's data_dir, "+
		"then run this step again: it bootstraps with this token", h.Name, err, where, index)
}
