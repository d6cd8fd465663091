package consul

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
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
		Name: "consul_service",
		Doc: "A service registered with the host's Consul agent (through the SSH connection, with the Consul API), " +
			"optionally with a Connect sidecar and upstreams; present or absent. Check mode compares with what the agent has. " +
			"With wait_healthy it waits until the service's checks (and its sidecar's) pass.",
		New: func() tasks.Task { return new(Service) },
	})
}

// Service is the `consul_service` task's parameters.
type Service struct {
	Agent       `yaml:",inline"`
	Name        string        `yaml:"name" required:"true" doc:"the service's name, e.g. fcs"`
	ID          string        `yaml:"id" doc:"its ID on this agent; default: the name"`
	Port        int           `yaml:"port" doc:"the port it listens on"`
	Address     string        `yaml:"address" doc:"the address it listens on; default: the agent's"`
	Tags        []string      `yaml:"tags" doc:"service tags"`
	TCPCheck    string        `yaml:"tcp_check" doc:"host:port to probe as its health check, e.g. 127.0.0.1:8181"`
	Sidecar     bool          `yaml:"sidecar" doc:"register a Connect sidecar proxy for it"`
	SidecarPort int           `yaml:"sidecar_port" doc:"the sidecar's public (mTLS) port; default: one Consul picks (21000-21255)"`
	Upstreams   []Upstream    `yaml:"upstreams" doc:"for a sidecar: services to reach through it, each {service, local_port}"`
	State       string        `yaml:"state" doc:"present (default) or absent"`
	WaitHealthy time.Duration `yaml:"wait_healthy" doc:"after a change, wait up to this long until its checks pass"`
	// The agent does not say which token a service was registered with,
	// so the registration carries a fingerprint of it (tokenMeta).
	ServiceToken string `yaml:"service_token" doc:"the ACL token the service (and its sidecar) is registered with, e.g. one with its service identity; the agent keeps the service in the catalog with it. A different token re-registers the service (mark it !secret)"`
}

// tokenMeta is the service meta key holding a fingerprint of the token a
// service was registered with: the first 12 hex digits of its SHA-256,
// which tell a changed token without telling the token (a random UUID).
const tokenMeta = "runbook-token"

func tokenFingerprint(token string) string {
	if token == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:6])
}

// Upstream is a service reached through the sidecar on a local port.
type Upstream struct {
	Service   string `yaml:"service" required:"true" doc:"the destination service"`
	LocalPort int    `yaml:"local_port" required:"true" doc:"the port the sidecar listens on, on 127.0.0.1"`
}

// Provision turns the sidecar on when its port is given.
func (s *Service) Provision() error {
	if s.SidecarPort != 0 {
		s.Sidecar = true
	}
	return nil
}

// Validate checks the parameters.
func (s *Service) Validate() error {
	if s.State != "" && s.State != "present" && s.State != "absent" {
		return fmt.Errorf("state must be present or absent, got %q", s.State)
	}
	if len(s.Upstreams) > 0 && !s.Sidecar {
		return errors.New("upstreams need a sidecar: set sidecar: true")
	}
	return nil
}

func (s *Service) id() string {
	if s.ID != "" {
		return s.ID
	}
	return s.Name
}

// wanted is the registration the runbook asks for.
func (s *Service) wanted() *api.AgentServiceRegistration {
	reg := &api.AgentServiceRegistration{ID: s.id(), Name: s.Name, Port: s.Port, Address: s.Address, Tags: s.Tags}
	if fp := tokenFingerprint(s.ServiceToken); fp != "" {
		reg.Meta = map[string]string{tokenMeta: fp}
	}
	if s.TCPCheck != "" {
		reg.Check = &api.AgentServiceCheck{Name: s.Name + " listens", TCP: s.TCPCheck, Interval: "5s", Timeout: "2s"}
	}
	if s.Sidecar {
		proxy := &api.AgentServiceConnectProxyConfig{}
		for _, u := range s.Upstreams {
			proxy.Upstreams = append(proxy.Upstreams, api.Upstream{DestinationName: u.Service, LocalBindPort: u.LocalPort, LocalBindAddress: "127.0.0.1"})
		}
		reg.Connect = &api.AgentServiceConnect{SidecarService: &api.AgentServiceRegistration{Port: s.SidecarPort, Proxy: proxy}}
	}
	return reg
}

// Check compares the agent's registration with the runbook's.
func (s *Service) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, err := s.client(h)
	if err != nil {
		return nil, err
	}
	have, _, err := c.Agent().Service(s.id(), (&api.QueryOptions{}).WithContext(ctx))
	if err != nil && !notFound(err) {
		return nil, tasks.DependsOnEarlier(fmt.Errorf("ask the Consul agent on %s about service %s: %w", h.Name, s.id(), err))
	}
	if notFound(err) {
		have = nil
	}
	// Consul registers a sidecar as a service of its own.
	var sidecar *api.AgentService
	if have != nil {
		sidecar, _, err = c.Agent().Service(s.sidecarID(), (&api.QueryOptions{}).WithContext(ctx))
		if err != nil && !notFound(err) {
			return nil, tasks.DependsOnEarlier(fmt.Errorf("ask the Consul agent on %s about %s: %w", h.Name, s.sidecarID(), err))
		}
	}
	change := &tasks.Change{}
	if s.State == "absent" {
		if have != nil {
			change.Summary = []string{"- deregister service " + s.id()}
			change.Apply = func(ctx context.Context) (tasks.Done, error) {
				return tasks.Done{}, c.Agent().ServiceDeregisterOpts(s.id(), (&api.QueryOptions{}).WithContext(ctx))
			}
		}
		return change, nil
	}
	change.Summary = s.diff(have, sidecar)
	if len(change.Summary) == 0 {
		return change, nil
	}
	change.Apply = func(ctx context.Context) (tasks.Done, error) {
		opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true, Token: s.ServiceToken}.WithContext(ctx)
		if err := c.Agent().ServiceRegisterOpts(s.wanted(), opts); err != nil {
			return tasks.Done{}, fmt.Errorf("register service %s on %s: %w", s.id(), h.Name, err)
		}
		if !s.Sidecar && sidecar != nil {
			if err := c.Agent().ServiceDeregisterOpts(s.sidecarID(), (&api.QueryOptions{}).WithContext(ctx)); err != nil && !notFound(err) {
				return tasks.Done{}, fmt.Errorf("deregister %s on %s: %w", s.sidecarID(), h.Name, err)
			}
		}
		if s.WaitHealthy > 0 {
			return tasks.Done{}, s.waitHealthy(ctx, h, c)
		}
		return tasks.Done{}, nil
	}
	return change, nil
}

// diff says how the agent's registration differs from the runbook's.
func (s *Service) diff(have, sidecar *api.AgentService) []string {
	if have == nil {
		what := fmt.Sprintf("+ register service %s (port %d", s.id(), s.Port)
		if s.Sidecar {
			what += ", with a sidecar"
		}
		return []string{what + ")"}
	}
	var out []string
	if have.Service != s.Name {
		out = append(out, fmt.Sprintf("~ name %s -> %s", have.Service, s.Name))
	}
	if have.Port != s.Port {
		out = append(out, fmt.Sprintf("~ port %d -> %d", have.Port, s.Port))
	}
	if have.Address != s.Address {
		out = append(out, fmt.Sprintf("~ address %q -> %q", have.Address, s.Address))
	}
	if !sameSet(have.Tags, s.Tags) {
		out = append(out, fmt.Sprintf("~ tags %v -> %v", have.Tags, s.Tags))
	}
	if have.Meta[tokenMeta] != tokenFingerprint(s.ServiceToken) {
		out = append(out, "~ registered with another ACL token")
	}
	switch {
	case !s.Sidecar && sidecar != nil:
		out = append(out, "- sidecar")
	case s.Sidecar && sidecar == nil:
		out = append(out, "+ sidecar")
	case s.Sidecar:
		if s.SidecarPort != 0 && sidecar.Port != s.SidecarPort {
			out = append(out, fmt.Sprintf("~ sidecar port %d -> %d", sidecar.Port, s.SidecarPort))
		}
		if got, want := upstreams(sidecar), s.upstreamList(); !slices.Equal(got, want) {
			out = append(out, fmt.Sprintf("~ upstreams %v -> %v", got, want))
		}
	}
	return out
}

func (s *Service) sidecarID() string { return s.id() + "-sidecar-proxy" }

func upstreams(sidecar *api.AgentService) []string {
	var out []string
	if sidecar.Proxy != nil {
		for _, u := range sidecar.Proxy.Upstreams {
			out = append(out, fmt.Sprintf("%s:%d", u.DestinationName, u.LocalBindPort))
		}
	}
	slices.Sort(out)
	return out
}

func (s *Service) upstreamList() []string {
	var out []string
	for _, u := range s.Upstreams {
		out = append(out, fmt.Sprintf("%s:%d", u.Service, u.LocalPort))
	}
	slices.Sort(out)
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// waitHealthy waits until every check of the service (and of its sidecar)
// passes: the sidecar needs a few seconds before it is healthy.
func (s *Service) waitHealthy(ctx context.Context, h *tasks.Host, c *api.Client) error {
	ids := []string{s.id()}
	if s.Sidecar {
		ids = append(ids, s.sidecarID())
	}
	return waitPassing(ctx, h, c, ids, s.WaitHealthy, time.Second)
}

// unhealthy lists the services among ids whose checks do not all pass on
// the agent, with why.
func unhealthy(ctx context.Context, c *api.Client, ids []string) ([]string, error) {
	var bad []string
	for _, id := range ids {
		status, info, err := c.Agent().AgentHealthServiceByIDOpts(id, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil && !notFound(err) {
			return nil, fmt.Errorf("health of %s: %w", id, err)
		}
		if info == nil {
			bad = append(bad, id+" is not registered")
			continue
		}
		if status != api.HealthPassing {
			detail := id + " " + status
			for _, chk := range info.Checks {
				if chk.Status != api.HealthPassing && strings.TrimSpace(chk.Output) != "" {
					detail += ": " + strings.TrimSpace(chk.Output)
				}
			}
			bad = append(bad, detail)
		}
	}
	return bad, nil
}

func waitPassing(ctx context.Context, h *tasks.Host, c *api.Client, ids []string, timeout, interval time.Duration) error {
	_, why, err := poll.Until(ctx, timeout, interval, func(ctx context.Context) (bool, string, error) {
		bad, err := unhealthy(ctx, c, ids)
		return len(bad) == 0, strings.Join(bad, "; "), err
	})
	if errors.Is(err, poll.ErrGaveUp) {
		return fmt.Errorf("not healthy after %s: %s", timeout, why)
	}
	if err == nil {
		h.Say("%s passing", strings.Join(ids, ", "))
	}
	return err
}

func notFound(err error) bool {
	var se api.StatusError
	return errors.As(err, &se) && se.Code == 404
}
