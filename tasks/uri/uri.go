// Package uri is the `uri` task: an HTTP(S) request made from the host,
// its status checked and its answer registered.
package uri

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "uri",
		Doc: "Makes an HTTP(S) request from the host: its connections start on the host (through the SSH connection), so it reaches what the host reaches, " +
			"by the host's name resolution, never from the controller's network. The step fails when the status is not one of status_code, " +
			"with the status and the first bytes of the body. A GET or HEAD changes nothing: it runs in check mode too and reports ok; " +
			"any other method reports changed when run (`changed_when:` says otherwise) and, in check mode, would change without being sent. " +
			"Registers status_code (the status the server answered: `status` is the step's, as for every task), headers (names lower-cased, repeated ones joined with \", \"), url (the final one, after redirects), elapsed (seconds), " +
			"json (when the answer is JSON) and, with return_content, content.",
		New: func() tasks.Task { return new(URI) },
	})
}

// maxBody is the most of a body that is read to register it: a larger
// one is an error, not a silently cut answer.
const maxBody = 1 << 20

// URI is the `uri` task's parameters.
type URI struct {
	URL             string            `yaml:"url" required:"true" doc:"http:// or https:// URL, resolved and connected to from the host"`
	Method          string            `yaml:"method" doc:"HTTP method; default GET"`
	Headers         map[string]string `yaml:"headers" doc:"request headers"`
	Body            any               `yaml:"body" doc:"request body: text, or with body_format: json a mapping or list sent as JSON"`
	BodyFormat      string            `yaml:"body_format" doc:"raw (default: body is sent as written) or json (body is encoded as JSON, and Content-Type is application/json unless headers set it)"`
	StatusCode      []int             `yaml:"status_code" doc:"the statuses that count as success; default [200]"`
	ReturnContent   bool              `yaml:"return_content" doc:"register the body as content (at most 1 MiB: a larger body fails the step)"`
	ValidateCerts   *bool             `yaml:"validate_certs" doc:"check the server's TLS certificate and name; default true"`
	CAPath          string            `yaml:"ca_path" doc:"absolute path, on the host, of a PEM file of the CA certificates to trust instead of the controller's system roots"`
	Timeout         time.Duration     `yaml:"timeout" doc:"for the whole request, answer included; default 30s"`
	FollowRedirects string            `yaml:"follow_redirects" doc:"safe (default: follow redirects of a GET or HEAD only), all, or none (a redirect is then the answer, its status checked against status_code)"`
	URLUsername     string            `yaml:"url_username" doc:"user for HTTP basic authentication, sent with the first request"`
	URLPassword     string            `yaml:"url_password" doc:"password for HTTP basic authentication (mark it !secret; the task never prints it either way)"`
}

// Provision fills in the defaults.
func (u *URI) Provision() error {
	if u.Method == "" {
		u.Method = http.MethodGet
	}
	u.Method = strings.ToUpper(u.Method)
	if u.BodyFormat == "" {
		u.BodyFormat = "raw"
	}
	if len(u.StatusCode) == 0 {
		u.StatusCode = []int{http.StatusOK}
	}
	if u.Timeout == 0 {
		u.Timeout = 30 * time.Second
	}
	if u.FollowRedirects == "" {
		u.FollowRedirects = "safe"
	}
	return nil
}

// Validate checks the parameters.
func (u *URI) Validate() error {
	p, err := url.Parse(u.URL)
	if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("url %s: want an http:// or https:// URL with a host", decode.Quote(redactURL(u.URL)))
	}
	if p.User != nil {
		return errors.New("url: put the user and password in url_username and url_password, not in the URL")
	}
	if !validToken(u.Method) {
		return fmt.Errorf("method %s is not an HTTP method (GET, POST, PUT, ...)", decode.Quote(u.Method))
	}
	switch u.BodyFormat {
	case "raw":
		if _, ok := u.Body.(map[string]any); ok {
			return errors.New("body is a mapping: add `body_format: json` to send it as JSON, or write the body as text")
		}
		if _, ok := u.Body.([]any); ok {
			return errors.New("body is a list: add `body_format: json` to send it as JSON, or write the body as text")
		}
	case "json":
		if _, err := u.body(); err != nil {
			return fmt.Errorf("body: %w", err)
		}
	default:
		return fmt.Errorf("body_format must be raw or json, got %s", decode.Quote(u.BodyFormat))
	}
	for _, c := range u.StatusCode {
		if c < 100 || c > 599 {
			return fmt.Errorf("status_code %d is not an HTTP status (100 to 599)", c)
		}
	}
	for k := range u.Headers {
		if !validToken(k) {
			return fmt.Errorf("headers: %s is not a header name", decode.Quote(k))
		}
	}
	if u.CAPath != "" && !strings.HasPrefix(u.CAPath, "/") {
		return fmt.Errorf("ca_path %s must be absolute (a file on the host)", decode.Quote(u.CAPath))
	}
	if u.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	if !slices.Contains([]string{"safe", "all", "none"}, u.FollowRedirects) {
		return fmt.Errorf("follow_redirects must be safe, all or none, got %s", decode.Quote(u.FollowRedirects))
	}
	if u.URLPassword != "" && u.URLUsername == "" {
		return errors.New("url_password needs url_username")
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token, as methods and header
// names are.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}

// readOnly reports whether the request changes nothing on the server.
func (u *URI) readOnly() bool { return u.Method == http.MethodGet || u.Method == http.MethodHead }

// Check sends a GET or HEAD at once; any other method is what Apply does.
func (u *URI) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	if u.readOnly() {
		res, err := u.do(ctx, h)
		if err != nil && res == nil {
			// The service asked may be what an earlier step starts.
			return nil, tasks.DependsOnEarlier(err)
		}
		return &tasks.Change{Result: res, Failure: tasks.DependsOnEarlier(err)}, nil
	}
	return &tasks.Change{
		Summary: []string{fmt.Sprintf("%s %s", u.Method, redactURL(u.URL))},
		Apply: func(ctx context.Context) (tasks.Done, error) {
			res, err := u.do(ctx, h)
			return tasks.Done{Result: res}, err
		},
	}, nil
}

// do sends the request. A nil result means no answer came; an answer with
// a status not in status_code is registered and returned with an error.
func (u *URI) do(ctx context.Context, h *tasks.Host) (map[string]any, error) {
	client, err := u.client(ctx, h)
	if err != nil {
		return nil, u.hide(h, err)
	}
	defer client.CloseIdleConnections()
	req, err := u.request(ctx)
	if err != nil {
		return nil, u.hide(h, err)
	}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return nil, u.hide(h, fmt.Errorf("%s %s from %s: %w", u.Method, redactURL(u.URL), h.Name, err))
	}
	defer resp.Body.Close()
	res := map[string]any{
		// status is the engine's (ok, changed, failed).
		"status_code": resp.StatusCode,
		"url":         resp.Request.URL.Redacted(),
		"headers":     headers(resp.Header),
	}
	isJSON := isJSON(resp.Header.Get("Content-Type"))
	var body []byte
	if u.ReturnContent || isJSON {
		body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
		if err == nil && len(body) > maxBody {
			err = fmt.Errorf("the body is larger than 1 MiB, more than the task registers: set return_content: false, or fetch it with another task")
		}
	} else {
		// Enough to say what went wrong, when the status is not wanted.
		body, err = io.ReadAll(io.LimitReader(resp.Body, 512))
	}
	res["elapsed"] = time.Since(start).Round(time.Millisecond).Seconds()
	if err != nil {
		return nil, u.hide(h, fmt.Errorf("read the answer of %s %s: %w", u.Method, redactURL(u.URL), err))
	}
	if u.ReturnContent {
		res["content"] = string(body)
	}
	if isJSON && len(body) > 0 {
		var v any
		if json.Unmarshal(body, &v) == nil {
			res["json"] = v
		}
	}
	if !slices.Contains(u.StatusCode, resp.StatusCode) {
		return res, u.hide(h, fmt.Errorf("%s %s answered %s, want %s%s", u.Method, redactURL(u.URL), resp.Status, codes(u.StatusCode), excerpt(body)))
	}
	return res, nil
}

func (u *URI) request(ctx context.Context) (*http.Request, error) {
	body, err := u.body()
	if err != nil {
		return nil, fmt.Errorf("body: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, u.Method, u.URL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", redactURL(u.URL), err)
	}
	if body == nil {
		req.Body, req.ContentLength = http.NoBody, 0
	}
	if u.BodyFormat == "json" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range u.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if u.URLUsername != "" {
		req.SetBasicAuth(u.URLUsername, u.URLPassword)
	}
	return req, nil
}

// body is what is sent: nil for none.
func (u *URI) body() ([]byte, error) {
	switch b := u.Body.(type) {
	case nil:
		return nil, nil
	case string:
		return []byte(b), nil
	}
	if u.BodyFormat != "json" {
		return []byte(fmt.Sprint(u.Body)), nil
	}
	return json.Marshal(u.Body)
}

// hide cuts the password, and the run's secrets, out of err's text: an
// answer quoted in an error may echo what was sent.
func (u *URI) hide(h *tasks.Host, err error) error {
	text := err.Error()
	if u.URLPassword != "" {
		text = strings.ReplaceAll(text, u.URLPassword, "********")
	}
	if h.Redact != nil {
		text = h.Redact(text)
	}
	if text == err.Error() {
		return err
	}
	return hidden{err, text}
}

// hidden is an error whose text has secrets cut out; what it wraps is
// still there for errors.Is and errors.As.
type hidden struct {
	err  error
	text string
}

func (h hidden) Error() string { return h.text }
func (h hidden) Unwrap() error { return h.err }

func headers(hs http.Header) map[string]any {
	out := make(map[string]any, len(hs))
	for k, v := range hs {
		out[strings.ToLower(k)] = strings.Join(v, ", ")
	}
	return out
}

func isJSON(contentType string) bool {
	ct, _, _ := strings.Cut(contentType, ";")
	ct = strings.TrimSpace(strings.ToLower(ct))
	return ct == "application/json" || strings.HasSuffix(ct, "+json")
}

func codes(cs []int) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = fmt.Sprint(c)
	}
	if len(s) == 1 {
		return s[0]
	}
	return "one of " + strings.Join(s, ", ")
}

// excerpt is the start of a body, on one line, for an error.
func excerpt(body []byte) string {
	const n = 200
	s := strings.ToValidUTF8(string(body), "?")
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "") + "..."
	}
	s = strings.Join(strings.Fields(s), " ")
	if s == "" {
		return ""
	}
	return ": " + s
}

// redactURL hides a password written in a URL.
func redactURL(s string) string {
	p, err := url.Parse(s)
	if err != nil {
		return "(a URL that does not parse)"
	}
	return p.Redacted()
}
