// Package engine runs runbooks: steps in order, each on its hosts in
// parallel, in check mode or for real. It owns every policy — ordering,
// parallelism, batches, retries, timeouts, failure limits, handlers, panic
// recovery and check mode — so that task modules only say what is true on
// a host and how to make it so.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/inventory"
)

// DefaultForks bounds how many hosts work at once when --forks is not set.
const DefaultForks = 256

// Options are a run's settings.
type Options struct {
	Check     bool
	Diff      bool
	Forks     int
	Limit     []string
	Tags      []string
	SkipTags  []string
	ExtraVars map[string]tmpl.Var
	// StartAt skips the steps before the first one of this name.
	StartAt string
	// Guard, when set, is asked before each step and handler; an error
	// stops the run there (such as a run lock that was lost).
	Guard func() error
	// Secrets, when set, is where Check and Plan (which run without an
	// Engine) put the secrets they meet, for their caller to hide in what
	// it prints: -e values marked !secret and what templates make of the
	// secrets they read. An Engine keeps its own (see Engine.Redact).
	Secrets *secret.Set
	// SecretStore keeps what the `secret` and tls_ template functions
	// make: the runbook's secrets_file.
	SecretStore tmpl.SecretSource
	// BecomePassword is the password -K asked for: every host's become
	// password, unless its become_password variable gives another.
	BecomePassword string

	plan *planner // Check records the steps it walks here, for Plan
}

// Engine runs runbooks against an inventory.
type Engine struct {
	opts    Options
	sources inventory.Sources
	pool    *transport.Pool
	out     Reporter
	log     *slog.Logger

	mu       sync.Mutex
	inv      *inventory.Inventory
	hostvars map[string]any
	hosts    map[string]*hostState
	secrets  secret.Set // everything secret seen so far: hidden in all output
	taint    *tmpl.Taint
	reportMu sync.Mutex

	varsUseFacts bool     // some variable reads .facts: every step gathers them
	stepFacts    sync.Map // *runbook.Step -> whether its templates read .facts

	// live is .hostvars as the run goes: what hosts registered and their
	// facts over the inventory's variables (see hostvars.go).
	live liveVars

	checked *runbook.Runbook // Preflight passed for it, on the inventory loaded
	start   *startAt         // --start-at-task, for this run
	// mayGrow: in check mode, a step on the controller would have changed
	// something, maybe the inventory: a pattern that matches nothing now
	// may match once applied.
	mayGrow bool
}

type hostState struct {
	registered map[string]any
	failed     bool // a step failed: later steps skip the host
	down       bool // unreachable
	pending    bool // check mode: an earlier step would have changed it
	// incomplete names registered values that lack what a real run would
	// have put in them (check mode did not run their step).
	incomplete map[string]bool
	// failure is the block failure a rescue step sees as .failure.
	failure map[string]any
	stats   Stats
	factsMu sync.Mutex
	facts   map[string]any
}

// New returns an engine. The inventory is loaded from sources at the start
// of Run and again after a step changes something on the controller.
func New(opts Options, sources inventory.Sources, pool *transport.Pool, out Reporter, log *slog.Logger) *Engine {
	if opts.Forks <= 0 {
		opts.Forks = DefaultForks
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{opts: opts, sources: sources, pool: pool, out: out, hosts: map[string]*hostState{}}
	e.log = slog.New(redactHandler{log.Handler(), &e.secrets})
	e.taint = tmpl.NewTaint(&e.secrets)
	if opts.SecretStore != nil {
		e.taint.UseSecrets(opts.SecretStore)
	}
	for _, v := range opts.ExtraVars {
		if v.Secret {
			e.secrets.Add(v.Value)
		}
	}
	if opts.BecomePassword != "" {
		e.secrets.Add(opts.BecomePassword)
	}
	return e
}

// AbortError stops a run before its end: a failure limit was crossed.
type AbortError struct {
	Pos decode.Pos
	Msg string
}

func (e *AbortError) Error() string { return e.Pos.String() + ": " + e.Msg }

// Summary is how a run ended.
type Summary struct {
	Hosts   map[string]*Stats
	Check   bool
	Elapsed time.Duration
}

// Failed reports whether any host failed or could not be reached.
func (s *Summary) Failed() bool {
	for _, st := range s.Hosts {
		if st.Failed > 0 || st.Unreachable > 0 {
			return true
		}
	}
	return false
}

// Changed reports whether anything changed, or in check mode would.
func (s *Summary) Changed() bool {
	for _, st := range s.Hosts {
		if st.Changed > 0 {
			return true
		}
	}
	return false
}

// Run runs rb. Unless Preflight has passed for rb, Run calls it first and
// returns its error before anything is reported. The error is otherwise
// non-nil when the run could not go on (a failure limit was crossed, a
// step's hosts could not be resolved, ctx was cancelled); failures on
// single hosts are in the summary instead.
func (e *Engine) Run(ctx context.Context, rb *runbook.Runbook) (*Summary, error) {
	if e.checked != rb {
		if err := e.Preflight(ctx, rb); err != nil {
			return &Summary{Hosts: map[string]*Stats{}, Check: e.opts.Check}, err
		}
	}
	start := time.Now()
	e.emit(Event{Type: RunStart, Runbook: rb.File, Check: e.opts.Check})
	e.warnInventory()
	e.varsUseFacts = anyVarUsesFacts(rb, e.inventory(), e.opts.ExtraVars)
	e.start = newStartAt(e.opts.StartAt, rb)
	err := e.runBook(ctx, rb, scope{layers: []map[string]tmpl.Var{rb.Vars}})
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	sum := e.summary()
	sum.Elapsed = time.Since(start)
	e.emit(Event{Type: Recap, Runbook: rb.File, Check: e.opts.Check, Recap: sum.Hosts, Elapsed: ms(sum.Elapsed), Message: errText(err)})
	return sum, err
}

func errText(err error) string {
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "interrupted: steps that had started were stopped; later steps did not run"
	}
	return err.Error()
}

func (e *Engine) summary() *Summary {
	e.mu.Lock()
	defer e.mu.Unlock()
	sum := &Summary{Hosts: map[string]*Stats{}, Check: e.opts.Check}
	for name, h := range e.hosts {
		st := h.stats
		if e.pool != nil {
			st.Commands = e.pool.Commands(name)
		}
		sum.Hosts[name] = &st
	}
	return sum
}

// scope is what an imported runbook inherits: variable layers (lowest
// precedence first), tags, and conditions.
type scope struct {
	layers []map[string]tmpl.Var
	tags   []string
	whens  []cond
	// limit, when set, narrows every step to these hosts: a group's
	// hosts, or the batch of them that runs now.
	limit map[string]bool
	// watch follows the hosts of the enclosing block, if any.
	watch *blockRun
	// throttle caps how many hosts run a step at once (0: --forks);
	// fatal stops the run after a step where any host failed.
	throttle int
	fatal    bool
	// rescue: the steps are a block's rescue steps, which see .failure.
	rescue bool
	// items are the loop variables of the looping imports around the
	// steps, each to its item; label names the items in output. item is
	// set while one item of a task step's own loop runs. See loop.go.
	items map[string]any
	label string
	item  *loopItem
	// imports are the import steps the steps come through, outermost first.
	imports []*runbook.Step
}

type cond struct {
	expr string
	pos  decode.Pos
}

func (s scope) child(st *runbook.Step) scope {
	layers := append([]map[string]tmpl.Var{st.Import.Vars}, s.layers...)
	layers = append(layers, st.ImportVars)
	c := scope{layers: layers, tags: append(slices.Clone(s.tags), st.Tags...), whens: slices.Clone(s.whens),
		limit: s.limit, watch: s.watch, throttle: s.throttle, fatal: s.fatal, items: s.items, label: s.label,
		imports: append(slices.Clone(s.imports), st)}
	if st.When != "" {
		c.whens = append(c.whens, cond{st.When, st.WhenPos})
	}
	return c
}

// runBook runs the steps of rb in order, then the handlers they notified.
func (e *Engine) runBook(ctx context.Context, rb *runbook.Runbook, sc scope) error {
	notified := map[string]map[string]bool{} // handler -> hosts
	if err := e.runSteps(ctx, rb.Steps, sc, notified, rb.Handlers); err != nil {
		return err
	}
	return e.runHandlers(ctx, rb.Handlers, sc, notified)
}

// runSteps runs steps in order; handlers are those their notify names.
func (e *Engine) runSteps(ctx context.Context, steps []*runbook.Step, sc scope, notified map[string]map[string]bool, handlers []*runbook.Step) error {
	for _, st := range steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if e.start.skip(st, sc) {
			continue
		}
		var err error
		switch {
		case st.Import != nil:
			err = e.runGroup(ctx, st, sc, notified, handlers, func(ctx context.Context, sc scope, _ map[string]map[string]bool) error {
				return e.runImport(ctx, st, sc)
			})
		case st.IsBlock():
			err = e.runBlock(ctx, st, sc, notified, handlers)
		case e.opts.selects(sc, st):
			if err = e.guard(st); err == nil {
				err = e.runStep(ctx, st, sc, nil, notified)
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// runHandlers runs the handlers notified, each on the hosts that notified
// it, in the order they are written.
func (e *Engine) runHandlers(ctx context.Context, handlers []*runbook.Step, sc scope, notified map[string]map[string]bool) error {
	for _, h := range handlers {
		if err := ctx.Err(); err != nil {
			return err
		}
		hosts := notified[h.Title()]
		if len(hosts) == 0 {
			continue
		}
		if err := e.guard(h); err != nil {
			return err
		}
		if err := e.runStep(ctx, h, sc, hosts, notified); err != nil {
			return err
		}
	}
	return nil
}

// guard asks Options.Guard whether the run may go on to st.
func (e *Engine) guard(st *runbook.Step) error {
	if e.opts.Guard == nil {
		return nil
	}
	if err := e.opts.Guard(); err != nil {
		return fmt.Errorf("before step %q: %w", st.Title(), err)
	}
	return nil
}

// selects reports whether --tags and --skip-tags let a step run. As in
// Ansible, a step tagged never (or imported so) runs only when --tags asks
// for one of its tags, never included; always wins over never.
func (o Options) selects(sc scope, st *runbook.Step) bool {
	tags := append(slices.Clone(sc.tags), st.Tags...)
	for _, t := range o.SkipTags {
		if slices.Contains(tags, t) {
			return false
		}
	}
	if slices.Contains(tags, "always") {
		return true
	}
	if len(o.Tags) == 0 {
		return !slices.Contains(tags, "never")
	}
	for _, t := range o.Tags {
		if slices.Contains(tags, t) {
			return true
		}
	}
	return false
}

func (e *Engine) reload(ctx context.Context) error {
	inv, err := e.sources.Load(ctx)
	if err != nil {
		return fmt.Errorf("load inventory: %w", err)
	}
	e.mu.Lock()
	e.inv, e.hostvars = inv, nil
	e.mu.Unlock()
	return nil
}

func (e *Engine) inventory() *inventory.Inventory {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.inv
}

func (e *Engine) state(host string) *hostState {
	e.mu.Lock()
	defer e.mu.Unlock()
	h, ok := e.hosts[host]
	if !ok {
		h = &hostState{registered: map[string]any{}, incomplete: map[string]bool{}}
		e.hosts[host] = h
	}
	return h
}

func (e *Engine) emit(ev Event) {
	ev.Time = time.Now()
	ev = e.redact(ev)
	e.reportMu.Lock()
	defer e.reportMu.Unlock()
	if e.out != nil {
		e.out.Report(ev)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
