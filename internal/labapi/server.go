package labapi

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
	"github.com/runbookdev/runbook/internal/lab"
)

// BasePath is where the API lives on the server, as on the real service.
const BasePath = "/metal/v1"

// Options tune the server.
type Options struct {
	Capacity int // devices the lab will hold; default 30
	Log      *slog.Logger
}

// Server is the lab's Metal API.
type Server struct {
	lab      *lab.Lab
	st       *store
	capacity int
	log      *slog.Logger
	ctx      context.Context // the server's lifetime: provisioning stops with it
	wg       sync.WaitGroup

	mu      sync.Mutex
	cancels map[string]context.CancelFunc // provisioning or power changes in flight, by device

	limited    atomic.Int32 // requests still to refuse with 429
	retryAfter atomic.Int32 // seconds
}

// New opens the API's state in the lab's state directory and resumes
// whatever provisioning a previous server left unfinished.
func New(ctx context.Context, l *lab.Lab, opts Options) (*Server, error) {
	st, err := openStore(l.Config().StateDir)
	if err != nil {
		return nil, err
	}
	return newServer(ctx, l, st, opts), nil
}

// newServer serves st. Only devices need the lab: tests of the other
// endpoints pass a nil one, and so cannot boot anything.
func newServer(ctx context.Context, l *lab.Lab, st *store, opts Options) *Server {
	if opts.Capacity == 0 {
		opts.Capacity = 30
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{lab: l, st: st, capacity: opts.Capacity, log: opts.Log, ctx: ctx, cancels: map[string]context.CancelFunc{}}
	s.resume()
	return s
}

// Project is the lab's one project.
func (s *Server) Project() (id string) {
	s.st.view(func(st *state) { id = st.Project })
	return id
}

// Token is the API token clients must send as X-Auth-Token.
func (s *Server) Token() (t string) {
	s.st.view(func(st *state) { t = st.Token })
	return t
}

// Wait waits for provisioning and power changes in flight to end.
func (s *Server) Wait() { s.wg.Wait() }

// RateLimit makes the next n requests fail with 429 Too Many Requests and
// a Retry-After of secs, as the real API does under load.
func (s *Server) RateLimit(n, secs int) {
	s.retryAfter.Store(int32(secs))
	s.limited.Store(int32(n))
}

// Handler serves the API under BasePath.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		method, path, _ := strings.Cut(pattern, " ")
		mux.HandleFunc(method+" "+BasePath+path, func(w http.ResponseWriter, r *http.Request) {
			if err := h(w, r); err != nil {
				var ae *apiError
				if !errors.As(err, &ae) {
					s.log.Error("lab api", "method", r.Method, "path", r.URL.Path, "err", err)
					ae = &apiError{http.StatusInternalServerError, err.Error()}
				}
				writeError(w, ae.status, ae.msg)
			}
		})
	}
	route("GET /projects/{project}/devices", s.listDevices)
	route("POST /projects/{project}/devices", s.createDevice)
	route("GET /devices/{id}", s.getDevice)
	route("PUT /devices/{id}", s.updateDevice)
	route("DELETE /devices/{id}", s.deleteDevice)
	route("POST /devices/{id}/actions", s.action)
	route("GET /projects/{project}/ssh-keys", s.listKeys)
	route("POST /projects/{project}/ssh-keys", s.createKey)
	route("GET /plans", s.listPlans)
	route("GET /projects/{project}/plans", s.listProjectPlans)
	route("GET /locations/metros", s.listMetros)
	route("GET /locations/metros/{id}", s.getMetro)
	route("GET /operating-systems", s.listOperatingSystems)
	route("GET /projects", s.listProjects)
	route("GET /projects/{project}", s.getProject)
	route("GET /user", s.getUser)
	route("GET /ssh-keys", s.listUserKeys)
	route("POST /ssh-keys", s.createUserKey)
	route("GET /ssh-keys/{id}", s.getKey)
	route("PUT /ssh-keys/{id}", s.updateKey)
	route("DELETE /ssh-keys/{id}", s.deleteKey)
	route("POST /_lab/rate-limit", func(w http.ResponseWriter, r *http.Request) error {
		n, _ := strconv.Atoi(r.URL.Query().Get("count"))
		secs, _ := strconv.Atoi(r.URL.Query().Get("retry_after"))
		s.RateLimit(n, max(secs, 1))
		w.WriteHeader(http.StatusNoContent)
		return nil
	})
	return s.auth(mux)
}

// auth checks X-Auth-Token, and refuses requests while rate-limited.
func (s *Server) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.Header.Get("X-Auth-Token")
		if tok == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(s.Token())) != 1 {
			writeError(w, http.StatusUnauthorized, "Invalid authentication token")
			return
		}
		if s.limited.Load() > 0 && s.limited.Add(-1) >= 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(s.retryAfter.Load())))
			writeError(w, http.StatusTooManyRequests, "Too Many Requests: slow down")
			return
		}
		next.ServeHTTP(w, r)
	})
}

type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func fail(status int, format string, args ...any) error {
	return &apiError{status, fmt.Sprintf(format, args...)}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	body := metalv1.Error{Error: &msg, Errors: []string{msg}}
	writeJSON(w, status, &body)
}

func writeJSON(w http.ResponseWriter, status int, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(data)
	return err
}

// readJSON decodes a request body into v, with the API's 422 for bad input.
func readJSON(r *http.Request, v any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fail(http.StatusUnprocessableEntity, "invalid request body: %v", err)
	}
	return nil
}

func (s *Server) checkProject(r *http.Request) error {
	if r.PathValue("project") != s.Project() {
		return fail(http.StatusNotFound, "Not found: project %s", r.PathValue("project"))
	}
	return nil
}

// track runs fn in the background, cancellable per device, as long as the
// server lives.
func (s *Server) track(id string, fn func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(s.ctx)
	s.mu.Lock()
	if prev, ok := s.cancels[id]; ok {
		prev()
	}
	s.cancels[id] = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer cancel()
		fn(ctx)
		s.mu.Lock()
		delete(s.cancels, id)
		s.mu.Unlock()
	}()
}

func (s *Server) cancel(id string) {
	s.mu.Lock()
	if c, ok := s.cancels[id]; ok {
		c()
	}
	s.mu.Unlock()
}

func now() time.Time { return time.Now().UTC().Truncate(time.Second) }
