package consul

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "consul_acl_token",
		Doc: "A Consul ACL token, by its accessor ID, with the SecretID the runbook made (both generated once, " +
			"{{ secret \"...\" \"uuid\" }}): its description, policies (by name), node and service identities, and " +
			"whether it is local; present or absent. The token is exactly that: roles or templated policies added by " +
			"hand are drift, and removed. A token's SecretID and locality cannot change in Consul: when they differ " +
			"the token is deleted and re-created, and whoever used the old SecretID is refused from then on. " +
			"To rotate a token without refusing anybody, make a new one (a new accessor and secret) with this task, " +
			"switch its users over (reload the sidecars), then remove the old one with state: absent. " +
			"token is the operator's token (acl = \"write\"); SecretIDs are never printed.",
		New: func() tasks.Task { return new(ACLToken) },
	})
}

// ACLToken is the `consul_acl_token` task's parameters.
type ACLToken struct {
	Agent             `yaml:",inline"`
	AccessorID        string            `yaml:"accessor_id" required:"true" doc:"the token's accessor ID, a UUID: what identifies it"`
	SecretID          string            `yaml:"secret_id" doc:"its SecretID, a UUID (mark it !secret, or use the secret function); required when present"`
	Description       string            `yaml:"description" doc:"what it is for, for people reading Consul"`
	Policies          []string          `yaml:"policies" doc:"the names of its policies"`
	NodeIdentities    []NodeIdentity    `yaml:"node_identities" doc:"node identities, each {node_name, datacenter}: an agent's token"`
	ServiceIdentities []ServiceIdentity `yaml:"service_identities" doc:"service identities, each {service_name, datacenters}: a service's and its sidecar's token"`
	Local             bool              `yaml:"local" doc:"valid in this datacenter only"`
	State             string            `yaml:"state" doc:"present (default) or absent"`
}

// NodeIdentity grants what an agent of that node needs.
type NodeIdentity struct {
	NodeName   string `yaml:"node_name" required:"true" doc:"the node's name"`
	Datacenter string `yaml:"datacenter" required:"true" doc:"its datacenter"`
}

// ServiceIdentity grants what a service (and its sidecar) needs.
type ServiceIdentity struct {
	ServiceName string   `yaml:"service_name" required:"true" doc:"the service's name"`
	Datacenters []string `yaml:"datacenters" doc:"where it is valid; default: everywhere"`
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// Validate checks the parameters, never quoting the SecretID.
func (t *ACLToken) Validate() error {
	if t.State != "" && t.State != "present" && t.State != "absent" {
		return fmt.Errorf("state must be present or absent, got %q", t.State)
	}
	if !uuidRE.MatchString(t.AccessorID) {
		return fmt.Errorf("accessor_id must be a UUID, got %q", t.AccessorID)
	}
	if t.State == "absent" {
		return nil
	}
	switch {
	case t.SecretID == "":
		return errors.New("secret_id: give the token's SecretID (a UUID)")
	case !uuidRE.MatchString(t.SecretID):
		return errors.New("secret_id must be a UUID (not shown: it is a secret)")
	case strings.EqualFold(t.SecretID, t.AccessorID):
		return errors.New("secret_id and accessor_id must differ")
	}
	return nil
}

// Check reads the token by its accessor and compares it with the runbook's.
func (t *ACLToken) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, err := t.client(h)
	if err != nil {
		return nil, err
	}
	have, err := t.read(ctx, c)
	if err != nil {
		return nil, aclError(h, "read ACL token "+t.AccessorID, err, t.Token, t.SecretID)
	}
	name := "token " + t.AccessorID
	change := &tasks.Change{}
	switch {
	case t.State == "absent" && have != nil:
		change.Summary = []string{fmt.Sprintf("- %s (%s)", name, have.Description)}
		change.Apply = func(ctx context.Context) (tasks.Done, error) {
			return tasks.Done{}, t.delete(ctx, c)
		}
		return change, nil
	case t.State == "absent":
		return change, nil
	case have == nil:
		change.Summary = []string{"+ " + name}
		change.Apply = func(ctx context.Context) (tasks.Done, error) {
			return tasks.Done{}, t.create(ctx, c)
		}
		return change, nil
	case have.SecretID == "<hidden>":
		return nil, fmt.Errorf("read ACL token %s through the agent on %s: Consul hides its SecretID from this task's token, "+
			"which so cannot tell whether it is the runbook's: give a token with acl = \"write\"", t.AccessorID, h.Name)
	}
	var recreate bool
	if have.SecretID != t.SecretID {
		change.Summary = append(change.Summary, "~ secret_id is not the runbook's (it cannot change: delete and re-create the token)")
		recreate = true
	}
	if have.Local != t.Local {
		change.Summary = append(change.Summary, fmt.Sprintf("~ local %t -> %t (it cannot change: delete and re-create the token)", have.Local, t.Local))
		recreate = true
	}
	change.Summary = append(change.Summary, t.diff(have)...)
	switch {
	case recreate:
		change.Apply = func(ctx context.Context) (tasks.Done, error) {
			if err := t.delete(ctx, c); err != nil {
				return tasks.Done{}, err
			}
			return tasks.Done{}, t.create(ctx, c)
		}
	case len(change.Summary) > 0:
		change.Apply = func(ctx context.Context) (tasks.Done, error) {
			_, _, err := c.ACL().TokenUpdate(t.wanted(), (&api.WriteOptions{}).WithContext(ctx))
			return tasks.Done{}, hide(wrapf(err, "update ACL token %s", t.AccessorID), t.Token, t.SecretID)
		}
	}
	return change, nil
}

// read reads the token, nil when there is none.
func (t *ACLToken) read(ctx context.Context, c *api.Client) (*api.ACLToken, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	have, _, err := c.ACL().TokenRead(t.AccessorID, q)
	if notFound(err) {
		return nil, nil
	}
	if statusIs(err, 403, "ACL not found") {
		// Consul answers so both for an accessor it does not know and for
		// a token of this task's it does not know: which one?
		if _, _, err := c.ACL().TokenReadSelf(q); err == nil {
			return nil, nil
		}
	}
	return have, err
}

// diff says how the token's grants differ from the runbook's.
func (t *ACLToken) diff(have *api.ACLToken) []string {
	var out []string
	if have.Description != t.Description {
		out = append(out, fmt.Sprintf("~ description %q -> %q", have.Description, t.Description))
	}
	var policies, roles, templated []string
	for _, p := range have.Policies {
		policies = append(policies, p.Name)
	}
	for _, r := range have.Roles {
		roles = append(roles, r.Name)
	}
	for _, tp := range have.TemplatedPolicies {
		templated = append(templated, tp.TemplateName)
	}
	if !sameSet(policies, t.Policies) {
		out = append(out, fmt.Sprintf("~ policies %v -> %v", sorted(policies), sorted(t.Policies)))
	}
	if got, want := nodeIdentities(have.NodeIdentities), t.nodeIdentities(); !slices.Equal(got, want) {
		out = append(out, fmt.Sprintf("~ node identities %v -> %v", got, want))
	}
	if got, want := serviceIdentities(have.ServiceIdentities), t.serviceIdentities(); !slices.Equal(got, want) {
		out = append(out, fmt.Sprintf("~ service identities %v -> %v", got, want))
	}
	if len(roles) > 0 {
		out = append(out, fmt.Sprintf("- roles %v", sorted(roles)))
	}
	if len(templated) > 0 {
		out = append(out, fmt.Sprintf("- templated policies %v", sorted(templated)))
	}
	return out
}

func (t *ACLToken) wanted() *api.ACLToken {
	tok := &api.ACLToken{AccessorID: t.AccessorID, SecretID: t.SecretID, Description: t.Description, Local: t.Local}
	for _, p := range t.Policies {
		tok.Policies = append(tok.Policies, &api.ACLTokenPolicyLink{Name: p})
	}
	for _, n := range t.NodeIdentities {
		tok.NodeIdentities = append(tok.NodeIdentities, &api.ACLNodeIdentity{NodeName: n.NodeName, Datacenter: n.Datacenter})
	}
	for _, s := range t.ServiceIdentities {
		tok.ServiceIdentities = append(tok.ServiceIdentities, &api.ACLServiceIdentity{ServiceName: s.ServiceName, Datacenters: s.Datacenters})
	}
	return tok
}

func (t *ACLToken) create(ctx context.Context, c *api.Client) error {
	_, _, err := c.ACL().TokenCreate(t.wanted(), (&api.WriteOptions{}).WithContext(ctx))
	return hide(wrapf(err, "create ACL token %s", t.AccessorID), t.Token, t.SecretID)
}

func (t *ACLToken) delete(ctx context.Context, c *api.Client) error {
	_, err := c.ACL().TokenDelete(t.AccessorID, (&api.WriteOptions{}).WithContext(ctx))
	return hide(wrapf(err, "delete ACL token %s", t.AccessorID), t.Token, t.SecretID)
}

func (t *ACLToken) nodeIdentities() []string {
	var out []string
	for _, n := range t.NodeIdentities {
		out = append(out, n.NodeName+"@"+n.Datacenter)
	}
	return sorted(out)
}

func nodeIdentities(ns []*api.ACLNodeIdentity) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.NodeName+"@"+n.Datacenter)
	}
	return sorted(out)
}

func (t *ACLToken) serviceIdentities() []string {
	var out []string
	for _, s := range t.ServiceIdentities {
		out = append(out, serviceIdentity(s.ServiceName, s.Datacenters))
	}
	return sorted(out)
}

func serviceIdentities(ss []*api.ACLServiceIdentity) []string {
	var out []string
	for _, s := range ss {
		out = append(out, serviceIdentity(s.ServiceName, s.Datacenters))
	}
	return sorted(out)
}

func serviceIdentity(name string, dcs []string) string {
	if len(dcs) == 0 {
		return name
	}
	return name + "@" + strings.Join(sorted(dcs), ",")
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
