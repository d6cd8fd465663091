package consul

import (
	"context"
	"fmt"
	"strings"

	udiff "github.com/aymanbagabas/go-udiff"
	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "consul_acl_policy",
		Doc: "A Consul ACL policy, by name: its rules (HCL), description and datacenters; present or absent. " +
			"Rules are compared as Consul keeps them, character for character (Consul does not reformat them). " +
			"The token needs acl = \"write\". Run it on one host.",
		New: func() tasks.Task { return new(ACLPolicy) },
	})
}

// ACLPolicy is the `consul_acl_policy` task's parameters.
type ACLPolicy struct {
	Agent       `yaml:",inline"`
	Name        string   `yaml:"name" required:"true" doc:"the policy's name, e.g. fcs-operator"`
	Rules       string   `yaml:"rules" doc:"its rules, in HCL, e.g. service \"fcs\" { policy = \"write\" }; required when present"`
	Description string   `yaml:"description" doc:"what it is for, for people reading Consul"`
	Datacenters []string `yaml:"datacenters" doc:"the datacenters it applies in; default: all"`
	State       string   `yaml:"state" doc:"present (default) or absent"`
}

// Validate checks the parameters.
func (p *ACLPolicy) Validate() error {
	if p.State != "" && p.State != "present" && p.State != "absent" {
		return fmt.Errorf("state must be present or absent, got %q", p.State)
	}
	if p.State != "absent" && strings.TrimSpace(p.Rules) == "" {
		return fmt.Errorf("rules: give the policy's rules (HCL)")
	}
	return nil
}

// Check reads the policy by name and compares it with the runbook's.
func (p *ACLPolicy) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, err := p.client(h)
	if err != nil {
		return nil, err
	}
	have, _, err := c.ACL().PolicyReadByName(p.Name, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, aclError(h, fmt.Sprintf("read ACL policy %s", p.Name), err, p.Token)
	}
	change := &tasks.Change{}
	switch {
	case p.State == "absent" && have != nil:
		change.Summary = []string{"- policy " + p.Name}
		change.Apply = func(ctx context.Context) (tasks.Done, error) {
			_, err := c.ACL().PolicyDelete(have.ID, (&api.WriteOptions{}).WithContext(ctx))
			return tasks.Done{}, hide(wrapf(err, "delete ACL policy %s", p.Name), p.Token)
		}
		return change, nil
	case p.State == "absent":
		return change, nil
	case have == nil:
		change.Summary = []string{"+ policy " + p.Name}
		change.Diff = udiff.Unified("policy "+p.Name+" (consul)", "policy "+p.Name+" (wanted)", "", p.Rules)
		change.Apply = func(ctx context.Context) (tasks.Done, error) {
			_, _, err := c.ACL().PolicyCreate(p.wanted(""), (&api.WriteOptions{}).WithContext(ctx))
			return tasks.Done{}, hide(wrapf(err, "create ACL policy %s", p.Name), p.Token)
		}
		return change, nil
	}
	if have.Description != p.Description {
		change.Summary = append(change.Summary, fmt.Sprintf("~ description %q -> %q", have.Description, p.Description))
	}
	if !sameSet(have.Datacenters, p.Datacenters) {
		change.Summary = append(change.Summary, fmt.Sprintf("~ datacenters %v -> %v", have.Datacenters, p.Datacenters))
	}
	if have.Rules != p.Rules {
		change.Summary = append(change.Summary, "~ rules, "+firstDifference(have.Rules, p.Rules))
		change.Diff = udiff.Unified("policy "+p.Name+" (consul)", "policy "+p.Name+" (wanted)", have.Rules, p.Rules)
	}
	if len(change.Summary) > 0 {
		change.Apply = func(ctx context.Context) (tasks.Done, error) {
			_, _, err := c.ACL().PolicyUpdate(p.wanted(have.ID), (&api.WriteOptions{}).WithContext(ctx))
			return tasks.Done{}, hide(wrapf(err, "update ACL policy %s", p.Name), p.Token)
		}
	}
	return change, nil
}

func (p *ACLPolicy) wanted(id string) *api.ACLPolicy {
	return &api.ACLPolicy{ID: id, Name: p.Name, Rules: p.Rules, Description: p.Description, Datacenters: p.Datacenters}
}

// firstDifference names the first line where two texts differ, both
// sides cut short: the rules may be long, and the diff (--diff) has them.
func firstDifference(have, want string) string {
	a, b := strings.Split(have, "\n"), strings.Split(want, "\n")
	for i := range max(len(a), len(b)) {
		la, lb := "(end)", "(end)"
		if i < len(a) {
			la = fmt.Sprintf("%q", short(a[i]))
		}
		if i < len(b) {
			lb = fmt.Sprintf("%q", short(b[i]))
		}
		if la != lb {
			return fmt.Sprintf("line %d: %s -> %s", i+1, la, lb)
		}
	}
	return "lines differ"
}

func short(s string) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return s
}

// aclError says what failed on the agent. Earlier steps of the run may
// cure any of it: start the agent, turn its ACLs on, make the token this
// task uses or give it the policy it lacks.
func aclError(h *tasks.Host, doing string, err error, tokens ...string) error {
	if statusIs(err, 401, "ACL support disabled") {
		return tasks.DependsOnEarlier(fmt.Errorf("%s through the agent on %s: ACLs are not enabled there", doing, h.Name))
	}
	return tasks.DependsOnEarlier(hide(fmt.Errorf("%s through the agent on %s: %w", doing, h.Name, err), tokens...))
}

func wrapf(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
