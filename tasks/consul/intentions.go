package consul

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "consul_intentions",
		Doc: "The Connect intentions of one destination service: its service-intentions config entry, read, merged and " +
			"written back only if nobody wrote it in between (check-and-set), so sources that others manage are kept " +
			"(unless exclusive). default: deny puts the source * with action deny in the entry: a listed source " +
			"(precedence 9) wins over * (precedence 8), every other source is denied, whatever each agent's ACL " +
			"default_policy or default_intention_policy says (Consul's docs: secure-mesh/intention, Precedence and " +
			"match order). Intentions made by consul_intention or Consul's older intentions API live in the same " +
			"entry and are merged (their legacy ID and metadata are dropped when the entry is written). " +
			"It also asks the host's agent (/v1/agent/connect/authorize) whether each listed source may connect: " +
			"an agent that answers otherwise than the runbook asks is drift, even when the servers have the entry " +
			"right; after a change it waits until the agent agrees, and fails naming the agent when it does not (Consul 1.22.5's agents keep " +
			"a view of the intentions per ACL token and were seen to miss changes to an entry, for good, until restarted). Run it on every host that runs the destination. " +
			"The token needs intentions = \"write\" and policy = \"write\" on the destination's service, and agent read.",
		New: func() tasks.Task { return new(Intentions) },
	})
}

// Intentions is the `consul_intentions` task's parameters.
type Intentions struct {
	Agent       `yaml:",inline"`
	Destination string            `yaml:"destination" required:"true" doc:"the called service; one task per destination"`
	Sources     []IntentionSource `yaml:"sources" doc:"the calling services, each {name, action: allow or deny, description}"`
	Default     string            `yaml:"default" doc:"what every source not listed gets: deny (default) or allow, written as the source *; none leaves * as it is"`
	Exclusive   bool              `yaml:"exclusive" doc:"remove the sources the runbook does not list; default: keep them (others may manage them)"`
	Timeout     time.Duration     `yaml:"timeout" doc:"after a change, how long to wait for the host's agent to agree; default 30s"`
	// The agent keeps its view of the intentions per token: asked with
	// the sidecar's own token, it answers from the view the sidecar gets.
	AuthorizeToken string `yaml:"authorize_token" doc:"the token the host's agent is asked with whether each source may connect: the destination's sidecar's (a service identity of the destination), so that its view is what is checked; default: token (mark it !secret)"`
}

// IntentionSource is one calling service.
type IntentionSource struct {
	Name        string `yaml:"name" required:"true" doc:"the calling service"`
	Action      string `yaml:"action" required:"true" doc:"allow or deny"`
	Description string `yaml:"description" doc:"why, for people reading Consul"`
}

// Provision sets the defaults.
func (in *Intentions) Provision() error {
	if in.Default == "" {
		in.Default = "deny"
	}
	if in.Timeout == 0 {
		in.Timeout = 30 * time.Second
	}
	return nil
}

// Validate checks the parameters.
func (in *Intentions) Validate() error {
	if in.Default != "deny" && in.Default != "allow" && in.Default != "none" {
		return fmt.Errorf("default must be deny, allow or none, got %q", in.Default)
	}
	seen := map[string]bool{}
	for i, s := range in.Sources {
		if s.Action != "allow" && s.Action != "deny" {
			return fmt.Errorf("sources[%d] (%s): action must be allow or deny, got %q", i, s.Name, s.Action)
		}
		if s.Name == "*" && in.Default != "none" {
			return fmt.Errorf("sources[%d]: give * as default: %s, or set default: none", i, s.Action)
		}
		if seen[s.Name] {
			return fmt.Errorf("sources[%d]: %s is listed twice", i, s.Name)
		}
		seen[s.Name] = true
	}
	if len(in.Sources) == 0 && in.Default == "none" {
		return errors.New("sources: list at least one, or set default")
	}
	return nil
}

// wanted is every source the task manages: the listed ones and *.
func (in *Intentions) wanted() []IntentionSource {
	out := slices.Clone(in.Sources)
	if in.Default != "none" {
		out = append(out, IntentionSource{Name: "*", Action: in.Default, Description: "every source not listed"})
	}
	return out
}

// Check reads the entry and asks the host's agent, and says how both
// differ from the runbook.
func (in *Intentions) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, err := in.client(h)
	if err != nil {
		return nil, err
	}
	entry, err := in.read(ctx, c)
	if err != nil {
		return nil, aclError(h, "read the intentions of "+in.Destination, err, in.Token)
	}
	next, summary := in.merge(entry)
	id, err := in.identity(ctx, c)
	if err != nil {
		return nil, aclError(h, "learn the mesh's trust domain and datacenter", err, in.Token)
	}
	bad, err := in.disagreements(ctx, h, id, entry)
	if err != nil {
		return nil, aclError(h, "ask the agent whether the sources may reach "+in.Destination, err, in.Token, in.AuthorizeToken)
	}
	for _, d := range bad {
		summary = append(summary, "~ "+d.say(h.Name, ""))
	}
	change := &tasks.Change{Summary: summary}
	if len(change.Summary) == 0 {
		return change, nil
	}
	change.Apply = func(ctx context.Context) (tasks.Done, error) {
		if next != nil {
			if err := in.write(ctx, c, entry); err != nil {
				return tasks.Done{}, hide(err, in.Token, in.AuthorizeToken)
			}
		}
		return tasks.Done{}, hide(in.waitAgent(ctx, h, c, id), in.Token, in.AuthorizeToken)
	}
	return change, nil
}

// read reads the destination's entry; nil when it has none.
func (in *Intentions) read(ctx context.Context, c *api.Client) (*api.ServiceIntentionsConfigEntry, error) {
	e, _, err := c.ConfigEntries().Get(api.ServiceIntentions, in.Destination, (&api.QueryOptions{}).WithContext(ctx))
	if notFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	entry, ok := e.(*api.ServiceIntentionsConfigEntry)
	if !ok {
		return nil, fmt.Errorf("the entry is a %T", e)
	}
	return entry, nil
}

// write writes the merged entry if nobody wrote the entry since it was
// read; if somebody did, it reads and merges again, so their change is
// kept.
func (in *Intentions) write(ctx context.Context, c *api.Client, entry *api.ServiceIntentionsConfigEntry) error {
	const tries = 5
	for range tries {
		next, _ := in.merge(entry)
		if next == nil {
			return nil // somebody else made it so
		}
		var index uint64 // 0: only if there is none
		if entry != nil {
			index = entry.ModifyIndex
		}
		ok, _, err := c.ConfigEntries().CAS(next, index, (&api.WriteOptions{}).WithContext(ctx))
		if err != nil {
			return fmt.Errorf("write the intentions of %s: %w", in.Destination, err)
		}
		if ok {
			return nil
		}
		if entry, err = in.read(ctx, c); err != nil {
			return fmt.Errorf("read the intentions of %s again, as they changed meanwhile: %w", in.Destination, err)
		}
	}
	return fmt.Errorf("write the intentions of %s: somebody else wrote them each of %d times this task tried", in.Destination, tries)
}

// merge is the entry as the runbook wants it, with what differs; nil when
// it is so already. Sources the task does not manage keep their place and
// content, unless exclusive.
func (in *Intentions) merge(have *api.ServiceIntentionsConfigEntry) (*api.ServiceIntentionsConfigEntry, []string) {
	next := &api.ServiceIntentionsConfigEntry{Kind: api.ServiceIntentions, Name: in.Destination}
	if have != nil {
		next.Meta, next.JWT = have.Meta, have.JWT
	}
	wanted := in.wanted()
	var summary []string
	done := map[string]bool{}
	if have != nil {
		for _, src := range have.Sources {
			s := *src
			// Read-only to the config entry API: Consul sets them.
			s.Precedence, s.LegacyID, s.LegacyMeta, s.LegacyCreateTime, s.LegacyUpdateTime = 0, "", nil, nil, nil
			i := slices.IndexFunc(wanted, func(w IntentionSource) bool { return local(src) && w.Name == src.Name })
			switch {
			case i >= 0:
				w := wanted[i]
				done[w.Name] = true
				summary = append(summary, sourceDiff(src, w)...)
				s.Action, s.Description, s.Permissions = api.IntentionAction(w.Action), w.Description, nil
			case in.Exclusive:
				summary = append(summary, fmt.Sprintf("- %s: %s (not in the runbook)", src.Name, action(src)))
				continue
			}
			next.Sources = append(next.Sources, &s)
		}
	}
	for _, w := range wanted {
		if !done[w.Name] {
			summary = append(summary, fmt.Sprintf("+ %s: %s", w.Name, w.Action))
			next.Sources = append(next.Sources, &api.SourceIntention{Name: w.Name, Action: api.IntentionAction(w.Action), Description: w.Description, Type: api.IntentionSourceConsul})
		}
	}
	if len(summary) == 0 {
		return nil, nil
	}
	return next, summary
}

// local reports whether a source is a service of this cluster's default
// namespace, which is what a source of the runbook's names; one of a peer
// or sameness group is another source of the same name.
func local(s *api.SourceIntention) bool {
	return s.Peer == "" && s.SamenessGroup == "" && (s.Namespace == "" || s.Namespace == "default") && (s.Partition == "" || s.Partition == "default")
}

func sourceDiff(have *api.SourceIntention, w IntentionSource) []string {
	var out []string
	if got := action(have); got != w.Action {
		out = append(out, fmt.Sprintf("~ %s: %s -> %s", w.Name, got, w.Action))
	}
	if have.Description != w.Description {
		out = append(out, fmt.Sprintf("~ %s: description %q -> %q", w.Name, have.Description, w.Description))
	}
	return out
}

// action is what a source of the entry gets: L7 permissions are per
// request, which the agent's authorize endpoint treats as deny.
func action(s *api.SourceIntention) string {
	if len(s.Permissions) > 0 {
		return "L7 permissions"
	}
	return string(s.Action)
}
