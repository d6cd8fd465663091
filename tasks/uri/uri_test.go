package uri_test

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/all"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"gopkg.in/yaml.v3"
)

// password is what the server takes for user ops: it must never be
// printed, though the server echoes it in an answer.
const password = "hunter2-Pa55-9f3c"

// server is a real HTTP server on loopback, which the host (this
// machine, through sshd) connects to.
type server struct {
	posts  atomic.Int32
	health atomic.Int32 // the status /health answers
}

func (s *server) handler() http.Handler {
	s.health.Store(http.StatusOK)
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(s.health.Load()))
		fmt.Fprintln(w, "status: boom, the disk is full")
	})
	mux.HandleFunc("/json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Echo", r.Header.Get("X-Test"))
		fmt.Fprint(w, `{"name": "web", "ports": [80, 443]}`)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/json", http.StatusFound)
	})
	mux.HandleFunc("/items", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "want a JSON POST", http.StatusBadRequest)
			return
		}
		s.posts.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.Copy(w, r.Body)
	})
	mux.HandleFunc("/private", func(w http.ResponseWriter, r *http.Request) {
		user, pass, _ := r.BasicAuth()
		if user != "ops" || pass != password {
			http.Error(w, "denied", http.StatusUnauthorized)
			return
		}
		// A careless server that echoes what it was sent.
		http.Error(w, "read-only today, "+user+":"+pass, http.StatusForbidden)
	})
	mux.HandleFunc("/ok-private", func(w http.ResponseWriter, r *http.Request) {
		if user, pass, _ := r.BasicAuth(); user != "ops" || pass != password {
			http.Error(w, "denied", http.StatusUnauthorized)
			return
		}
		fmt.Fprint(w, "welcome ops")
	})
	return mux
}

func start(t *testing.T, tls bool) (*server, *httptest.Server) {
	s := &server{}
	var ts *httptest.Server
	if tls {
		ts = httptest.NewTLSServer(s.handler())
	} else {
		ts = httptest.NewServer(s.handler())
	}
	t.Cleanup(ts.Close)
	return s, ts
}

// TestURIChecksAndRegisters gets JSON with a header, follows a redirect,
// and registers what came back, alike in check mode and in a real run; a
// status the server changes to is found by the next check.
func TestURIChecksAndRegisters(t *testing.T) {
	env := tasktest.New(t)
	srv, ts := start(t, false)
	rb := fmt.Sprintf(`
steps:
  - {name: health, hosts: h1, task: uri, with: {url: "%[1]s/health"}}
  - {name: get, hosts: h1, task: uri, with: {url: "%[1]s/json", headers: {X-Test: yes-please}, return_content: true}, register: got}
  - {name: moved, hosts: h1, task: uri, with: {url: "%[1]s/moved", status_code: [200, 204]}, register: moved}
  - {name: unmoved, hosts: h1, task: uri, with: {url: "%[1]s/moved", follow_redirects: none, status_code: [302]}, register: unmoved}
  - {name: show, hosts: h1, task: debug, with: {var: got}}
  - {name: show moved, hosts: h1, task: debug, with: {var: moved}}
  - {name: show unmoved, hosts: h1, task: debug, with: {var: unmoved}}
`, ts.URL)
	for _, flags := range [][]string{{"--check"}, nil} {
		r := env.Apply(rb, flags...)
		if r.Exit != tasktest.ExitOK {
			t.Fatalf("%v: %s", flags, r)
		}
		for step, st := range r.Statuses() {
			if st != engine.OK {
				t.Errorf("%v: %s is %s, want ok", flags, step, st)
			}
		}
		got := shown(t, r, "show", "got")
		want := map[string]any{
			"status_code": 200,
			"url":         ts.URL + "/json",
			"content":     `{"name": "web", "ports": [80, 443]}`,
			"json":        map[string]any{"name": "web", "ports": []any{80, 443}},
		}
		if d := cmp.Diff(want, pick(got, "status_code", "url", "content", "json")); d != "" {
			t.Errorf("%v: registered (-want +got):\n%s", flags, d)
		}
		hs, _ := got["headers"].(map[string]any)
		if hs["x-echo"] != "yes-please" || hs["content-type"] != "application/json" {
			t.Errorf("%v: headers %v: want x-echo: yes-please, lower-cased names", flags, hs)
		}
		if _, ok := got["elapsed"].(float64); !ok {
			t.Errorf("%v: elapsed %v (%T): want seconds", flags, got["elapsed"], got["elapsed"])
		}
		moved := shown(t, r, "show moved", "moved")
		if moved["url"] != ts.URL+"/json" || moved["status_code"] != 200 || moved["content"] != nil {
			t.Errorf("%v: redirect: %v", flags, moved)
		}
		unmoved := shown(t, r, "show unmoved", "unmoved")
		if unmoved["status_code"] != 302 || unmoved["url"] != ts.URL+"/moved" {
			t.Errorf("%v: follow_redirects none: %v", flags, unmoved)
		}
	}

	// Drift: the service goes bad. Check finds it, as a run does.
	srv.health.Store(http.StatusInternalServerError)
	for _, flags := range [][]string{{"--check"}, nil} {
		r := env.Apply(rb, flags...)
		ev := r.Result("health")
		if r.Exit != tasktest.ExitError || ev.Status != engine.Failed ||
			!strings.Contains(ev.Message, "500 Internal Server Error, want 200: status: boom, the disk is full") {
			t.Fatalf("%v: a 500: %q\n%s", flags, ev.Message, r)
		}
	}
}

// TestURIPostIsAChange: a POST is not sent in check mode, which says it
// would; a run sends it once and reports changed, or ok with
// changed_when: false.
func TestURIPostIsAChange(t *testing.T) {
	env := tasktest.New(t)
	srv, ts := start(t, false)
	rb := fmt.Sprintf(`
steps:
  - name: post
    hosts: h1
    task: uri
    with: {url: "%[1]s/items", method: post, body_format: json, body: {name: web, port: 80}, status_code: [201]}
    register: posted
  - {name: show, hosts: h1, task: debug, with: {var: posted}}
  - {name: quiet, hosts: h1, task: uri, changed_when: "false", with: {url: "%[1]s/items", method: POST, body: "{}", headers: {Content-Type: application/json}, status_code: [201]}}
`, ts.URL)
	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || r.Result("post").Status != engine.Changed || srv.posts.Load() != 0 {
		t.Fatalf("check: %d posts\n%s", srv.posts.Load(), r)
	}
	if c := strings.Join(r.Result("post").Changes, ""); c != "POST "+ts.URL+"/items" {
		t.Errorf("check says %q", c)
	}
	r = env.Apply(rb)
	if r.Exit != tasktest.ExitOK || r.Result("post").Status != engine.Changed || r.Result("quiet").Status != engine.OK || srv.posts.Load() != 2 {
		t.Fatalf("apply: %d posts\n%s", srv.posts.Load(), r)
	}
	posted := shown(t, r, "show", "posted")
	if d := cmp.Diff(map[string]any{"name": "web", "port": 80}, posted["json"]); posted["status_code"] != 201 || d != "" {
		t.Errorf("registered %v (-want +got json):\n%s", posted, d)
	}
}

// TestURITLS trusts the server's CA from ca_path on the host, refuses it
// without, and takes anything with validate_certs: false.
func TestURITLS(t *testing.T) {
	env := tasktest.New(t)
	_, ts := start(t, true)
	ca := filepath.Join(env.Dir, "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ts.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	step := func(with string) string {
		return fmt.Sprintf("steps:\n  - {name: get, hosts: h1, task: uri, with: {url: \"%s/json\", %s}}\n", ts.URL, with)
	}
	if r := env.Apply(step("ca_path: "+ca), "--check"); r.Exit != tasktest.ExitOK || r.Result("get").Status != engine.OK {
		t.Fatalf("with ca_path: %s", r)
	}
	r := env.Apply(step("timeout: 10s"), "--check")
	if msg := r.Result("get").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "certificate") {
		t.Fatalf("without the CA: %q\n%s", msg, r)
	}
	if r := env.Apply(step("validate_certs: false")); r.Exit != tasktest.ExitOK || r.Result("get").Status != engine.OK {
		t.Fatalf("validate_certs: false: %s", r)
	}
	r = env.Apply(step("ca_path: "+filepath.Join(env.Dir, "none.pem")), "--check")
	if msg := r.Result("get").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "read ca_path") {
		t.Fatalf("a missing ca_path: %q\n%s", msg, r)
	}
}

// TestURIPasswordIsNeverPrinted: the password is nowhere in what a run
// writes, marked !secret or not, though the server echoes it in a failure.
func TestURIPasswordIsNeverPrinted(t *testing.T) {
	env := tasktest.New(t)
	_, ts := start(t, false)
	for _, tag := range []string{"!secret ", ""} {
		rb := fmt.Sprintf(`
vars:
  pw: %[2]s%[3]q
steps:
  - {name: ok, hosts: h1, task: uri, with: {url: "%[1]s/ok-private", url_username: ops, url_password: "{{ .pw }}", return_content: true}, register: ok}
  - {name: show, hosts: h1, task: debug, with: {var: ok}}
  - {name: denied, hosts: h1, task: uri, with: {url: "%[1]s/private", url_username: ops, url_password: "{{ .pw }}"}}
`, ts.URL, tag, password)
		for _, flags := range [][]string{{"--check"}, {"--diff"}} {
			r := env.Apply(rb, flags...)
			if r.Result("ok").Status != engine.OK || r.Result("denied").Status != engine.Failed ||
				!strings.Contains(r.Result("denied").Message, "403 Forbidden, want 200: read-only today, ops:********") {
				t.Fatalf("%q %v: %s", tag, flags, r)
			}
			// A step that was given a secret registers only secrets (the
			// engine's rule), so its content is masked when shown.
			want := "welcome ops"
			if tag != "" {
				want = "********"
			}
			if content := shown(t, r, "show", "ok")["content"]; content != want {
				t.Errorf("%q %v: content %v", tag, flags, content)
			}
			all := r.Stdout + r.Stderr
			for _, ev := range r.Events {
				j, _ := json.Marshal(ev)
				all += string(j)
			}
			if strings.Contains(all, password) {
				t.Errorf("%q %v: the password is in the output:\n%s", tag, flags, all)
			}
		}
	}
}

// Bad parameters are refused before anything runs, naming the parameter.
func TestURIBadParams(t *testing.T) {
	env := tasktest.New(t)
	for with, want := range map[string]string{
		`{url: "ftp://x/y"}`:                     `url "ftp://x/y": want an http:// or https:// URL`,
		`{url: "http://x", body: {a: 1}}`:        "body is a mapping: add `body_format: json`",
		`{url: "http://x", status_code: [1000]}`: "status_code 1000 is not an HTTP status",
		`{url: "http://x", follow_redirects: x}`: "follow_redirects must be safe, all or none",
		`{url: "http://x", ca_path: ca.pem}`:     `ca_path "ca.pem" must be absolute`,
		`{url: "http://x", url_password: p}`:     "url_password needs url_username",
		`{url: "http://u:p@x"}`:                  "url: put the user and password in url_username and url_password",
	} {
		r := env.Apply("steps:\n  - {name: s, hosts: h1, task: uri, with: " + with + "}\n")
		if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, want) {
			t.Errorf("%s: want %q:\n%s", with, want, r)
		}
	}
}

// shown is the value a debug step printed for name.
func shown(t *testing.T, r tasktest.Run, step, name string) map[string]any {
	t.Helper()
	var got map[string]map[string]any
	if err := yaml.Unmarshal([]byte(r.Result(step).Message), &got); err != nil {
		t.Fatalf("%s: %v: %q", step, err, r.Result(step).Message)
	}
	return got[name]
}

func pick(m map[string]any, keys ...string) map[string]any {
	out := map[string]any{}
	for _, k := range keys {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}
