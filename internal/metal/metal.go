// Package metal is runbook's Equinix Metal client: equinix-sdk-go's
// metalv1, configured from the environment, retrying rate limits and
// server errors, with errors that say what to fix.
package metal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
)

// DefaultURL is the real API's base URL.
const DefaultURL = "https://api.equinix.com/metal/v1"

// Client talks to one project.
type Client struct {
	API     *metalv1.APIClient
	Project string
	token   string
	url     string
}

// FromEnv builds a client from METAL_AUTH_TOKEN, METAL_API_URL (default:
// the real API) and the project (default: METAL_PROJECT_ID).
func FromEnv(project string) (*Client, error) {
	token := os.Getenv("METAL_AUTH_TOKEN")
	if token == "" {
		return nil, errors.New("METAL_AUTH_TOKEN is not set: export the API token of the Metal API runbook talks to (METAL_API_URL, default " + DefaultURL + ")")
	}
	if project == "" {
		project = os.Getenv("METAL_PROJECT_ID")
	}
	if project == "" {
		return nil, errors.New("no Metal project: give project: or export METAL_PROJECT_ID, the ID of a project the token may use")
	}
	url := os.Getenv("METAL_API_URL")
	if url == "" {
		url = DefaultURL
	}
	return New(url, token, project), nil
}

// New builds a client for the API at url.
func New(url, token, project string) *Client {
	cfg := metalv1.NewConfiguration()
	cfg.Servers = metalv1.ServerConfigurations{{URL: strings.TrimSuffix(url, "/")}}
	cfg.UserAgent = "runbook"
	cfg.HTTPClient = &http.Client{Transport: &Retrying{Next: http.DefaultTransport}, Timeout: 2 * time.Minute}
	return &Client{API: metalv1.NewAPIClient(cfg), Project: project, token: token, url: url}
}

// Ctx adds the API token to ctx, as the SDK expects it.
func (c *Client) Ctx(ctx context.Context) context.Context {
	return context.WithValue(ctx, metalv1.ContextAPIKeys, map[string]metalv1.APIKey{"x_auth_token": {Key: c.token}})
}

// Devices lists the project's devices that carry every tag in tags.
func (c *Client) Devices(ctx context.Context, tags []string) ([]metalv1.Device, error) {
	req := c.API.DevicesApi.FindProjectDevices(c.Ctx(ctx), c.Project).PerPage(200)
	if len(tags) > 0 {
		req = req.Tag(tags[0])
	}
	list, err := req.ExecuteWithPagination()
	if err != nil {
		return nil, c.Explain(err, nil, "list the devices of project "+c.Project)
	}
	var out []metalv1.Device
	for _, d := range list.Devices {
		if hasAll(d.Tags, tags) {
			out = append(out, d)
		}
	}
	return out, nil
}

func hasAll(have, want []string) bool {
	for _, w := range want {
		found := false
		for _, h := range have {
			found = found || h == w
		}
		if !found {
			return false
		}
	}
	return true
}

// Explain turns an API failure into an error that says what to fix.
func (c *Client) Explain(err error, resp *http.Response, what string) error {
	var oe *metalv1.GenericOpenAPIError
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	msg := ""
	if errors.As(err, &oe) {
		if m, ok := oe.Model().(metalv1.Error); ok {
			msg = strings.Join(m.Errors, "; ")
			if msg == "" {
				msg = m.GetError()
			}
		}
		if status == 0 {
			fmt.Sscanf(oe.Error(), "%d", &status)
		}
	}
	if msg == "" {
		msg = err.Error()
	}
	switch status {
	case http.StatusUnauthorized:
		return fmt.Errorf("%s: the Metal API at %s refused the token (401: %s): check METAL_AUTH_TOKEN", what, c.url, msg)
	case http.StatusForbidden:
		return fmt.Errorf("%s: the token may not do this in project %s (403: %s)", what, c.Project, msg)
	case http.StatusNotFound:
		return fmt.Errorf("%s: not found (404: %s): check the project (METAL_PROJECT_ID or project:)", what, msg)
	case http.StatusUnprocessableEntity:
		return fmt.Errorf("%s: the Metal API rejected it (422): %s", what, msg)
	case 0:
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %d: %s", what, status, msg)
}

// Retrying retries requests the API refused for load: 429 and 5xx, up to
// five times, waiting as Retry-After says or with exponential backoff.
type Retrying struct {
	Next    http.RoundTripper
	Retries int           // default 5
	Base    time.Duration // first backoff; default 500ms
}

// RoundTrip sends req, again when the answer says to come back later.
func (r *Retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	retries := r.Retries
	if retries == 0 {
		retries = 5
	}
	base := r.Base
	if base == 0 {
		base = 500 * time.Millisecond
	}
	for attempt := 0; ; attempt++ {
		if attempt > 0 && req.Body != nil && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
		resp, err := r.Next.RoundTrip(req)
		if err != nil || attempt >= retries || !retryable(resp.StatusCode) || (req.Body != nil && req.GetBody == nil) {
			return resp, err
		}
		wait := retryAfter(resp.Header.Get("Retry-After"))
		if wait == 0 {
			wait = min(base<<attempt, 10*time.Second)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		resp.Body.Close()
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(wait):
		}
	}
}

func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500 && status != http.StatusNotImplemented
}

// retryAfter reads Retry-After as seconds or an HTTP date; 0 when absent.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return min(time.Duration(secs)*time.Second, time.Minute)
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(time.Until(t), 0), time.Minute)
	}
	return 0
}

// Addresses returns a device's public and private IPv4 addresses.
func Addresses(d *metalv1.Device) (public, private string) {
	for _, a := range d.IpAddresses {
		if a.GetAddressFamily() != 4 {
			continue
		}
		if a.GetPublic() && public == "" {
			public = a.GetAddress()
		} else if !a.GetPublic() && private == "" {
			private = a.GetAddress()
		}
	}
	return public, private
}
