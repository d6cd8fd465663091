package consul

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/poll"
	"github.com/runbookdev/runbook/tasks"
)

// The effective authorization: what the destination's own agent answers a
// sidecar that asks whether a source may connect. It answers from its
// cache of the intentions, which the lab saw stay stale after the servers
// had the entry right, so the servers' word is not enough.

// meshID is what a source's certificate URI is made of.
type meshID struct{ trustDomain, datacenter string }

func (in *Intentions) identity(ctx context.Context, c *api.Client) (meshID, error) {
	q := (&api.QueryOptions{}).WithContext(ctx)
	roots, _, err := c.Connect().CARoots(q)
	if err != nil {
		return meshID{}, err
	}
	var self struct{ Config struct{ Datacenter string } }
	if _, err := c.Raw().Query("/v1/agent/self", &self, q); err != nil {
		return meshID{}, err
	}
	if roots.TrustDomain == "" || self.Config.Datacenter == "" {
		return meshID{}, errors.New("the agent names no trust domain or datacenter: is Connect enabled?")
	}
	return meshID{roots.TrustDomain, self.Config.Datacenter}, nil
}

// disagreement is a source the host's agent answers for otherwise than
// the runbook asks.
type disagreement struct {
	source  string
	allowed bool   // what the agent says
	servers bool   // the servers' entry is as the runbook asks
	reason  string // the agent's
}

// say puts it as "fcs00's agent denies fcc, the servers allow it (why)".
func (d disagreement) say(host, still string) string {
	s := fmt.Sprintf("%s's agent %s%s %s", host, still, verb(d.allowed), d.source)
	if d.servers {
		s += ", the servers " + map[bool]string{true: "deny", false: "allow"}[d.allowed] + " it"
	}
	return s + " (" + d.reason + ")"
}

// disagreements asks the host's agent about every listed source; entry is
// what the servers have.
func (in *Intentions) disagreements(ctx context.Context, h *tasks.Host, id meshID, entry *api.ServiceIntentionsConfigEntry) ([]disagreement, error) {
	var out []disagreement
	for _, s := range in.Sources {
		if s.Name == "*" {
			continue // no service is called *: nothing to ask about
		}
		ok, reason, err := in.authorize(ctx, h, id, s.Name)
		if err != nil {
			return nil, err
		}
		if ok != (s.Action == "allow") {
			out = append(out, disagreement{source: s.Name, allowed: ok, servers: servers(entry, s.Name) == s.Action, reason: reason})
		}
	}
	return out, nil
}

func verb(allowed bool) string {
	if allowed {
		return "allows"
	}
	return "denies"
}

// servers is the action the entry gives the source, "" if none.
func servers(entry *api.ServiceIntentionsConfigEntry, name string) string {
	if entry == nil {
		return ""
	}
	for _, s := range entry.Sources {
		if local(s) && s.Name == name {
			return action(s)
		}
	}
	return ""
}

// waitAgent waits until the host's agent answers as the runbook asks.
func (in *Intentions) waitAgent(ctx context.Context, h *tasks.Host, c *api.Client, id meshID) error {
	interval := min(500*time.Millisecond, in.Timeout)
	var bad []disagreement
	_, _, err := poll.Until(ctx, in.Timeout, interval, func(ctx context.Context) (bool, string, error) {
		entry, err := in.read(ctx, c)
		if err != nil {
			return false, "", fmt.Errorf("read the intentions of %s: %w", in.Destination, err)
		}
		if bad, err = in.disagreements(ctx, h, id, entry); err != nil {
			return false, "", fmt.Errorf("ask the agent on %s whether the sources may reach %s: %w", h.Name, in.Destination, err)
		}
		return len(bad) == 0, "", nil
	})
	if errors.Is(err, poll.ErrGaveUp) {
		var lines []string
		for _, d := range bad {
			lines = append(lines, d.say(h.Name, "still "))
		}
		return fmt.Errorf("after %s, %s: the servers have the intentions of %s as asked, but that agent answers "+
			"from a stale view of them", in.Timeout, strings.Join(lines, "; "), in.Destination)
	}
	return err
}

// authorize asks the host's agent whether source may connect to the
// destination, as the destination's sidecar asks it. The API package's
// call cannot be cancelled, hence the request made here.
func (in *Intentions) authorize(ctx context.Context, h *tasks.Host, id meshID, source string) (bool, string, error) {
	body, err := json.Marshal(api.AgentAuthorizeParams{
		Target:        in.Destination,
		ClientCertURI: fmt.Sprintf("spiffe://%s/ns/default/dc/%s/svc/%s", id.trustDomain, id.datacenter, source),
	})
	if err != nil {
		return false, "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+in.addr()+"/v1/agent/connect/authorize", bytes.NewReader(body))
	if err != nil {
		return false, "", err
	}
	if tok := cmp.Or(in.AuthorizeToken, in.Token); tok != "" {
		req.Header.Set("X-Consul-Token", tok)
	}
	resp, err := httpClient(h).Do(req)
	if err != nil {
		return false, "", err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return false, "", err
	}
	if resp.StatusCode != http.StatusOK {
		return false, "", api.StatusError{Code: resp.StatusCode, Body: strings.TrimSpace(string(data))}
	}
	var out api.AgentAuthorize
	if err := json.Unmarshal(data, &out); err != nil {
		return false, "", fmt.Errorf("decode the agent's answer: %w", err)
	}
	return out.Authorized, out.Reason, nil
}
