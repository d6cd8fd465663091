package engine

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"strings"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/inventory"
	"github.com/runbookdev/runbook/tasks"
)

// result is how a step ended on one host.
type result struct {
	status  Status
	ignored bool
	notRun  bool // check mode: the step's change was not made, so its results are missing
	unknown bool // check mode: what it would do depends on what earlier steps would do
	summary []string
	diff    string
	secret  bool // the step's input held a secret: its diff is not shown
	msg     string
	data    map[string]any // what `register:` records

	// reported: the module reported the failure itself, with a result
	// (a command's exit code, drift it refuses): failed_when judges it,
	// and changed says whether the step changed the host (or would) all
	// the same.
	reported, changed bool

	// Where the step ran, when not on the host itself (see delegate.go),
	// and how many items its loop had (see loop.go).
	via      string // delegate_to: the host the module ran against
	viaLocal bool   // that host is the controller
	once     string // run_once: the host that ran the step for this one
	items    int
}

// runHost runs one step on one host and reports the result.
func (e *Engine) runHost(ctx context.Context, st *runbook.Step, sc scope, h *inventory.Host) (r result) {
	start := time.Now()
	hs := e.state(h.Name)
	defer func() {
		if p := recover(); p != nil {
			e.log.Error("task panicked", "task", st.Module.Name, "host", h.Name, "panic", p, "stack", string(debug.Stack()))
			r = result{status: Failed, msg: fmt.Sprintf("task %s panicked: %v (this is a bug in the module)", st.Module.Name, p)}
		}
		r = outputOnly(st, r)
		if r.status == Failed && st.IgnoreErrors {
			r.ignored = true
		}
		if sc.item != nil {
			e.recordItem(st, h, hs, sc.item, &r, time.Since(start))
			return
		}
		e.record(st, h, hs, &r, time.Since(start))
	}()

	if st.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, st.Timeout, fmt.Errorf("step timed out after %s", st.Timeout))
		defer cancel()
	}
	var conn transport.Conn
	if e.needsFacts(st) {
		// Facts come from the host, so connect before rendering anything.
		c, failed := e.connect(ctx, h)
		if failed != nil {
			return *failed
		}
		if _, err := e.facts(ctx, h, hs, c); err != nil {
			return connFailure(ctx, err)
		}
		conn = c
	}
	vars, tr, err := e.vars(sc, h, hs)
	if err != nil {
		return e.templateFailure(ctx, hs, err)
	}
	for _, c := range append(sc.whens, cond{st.When, st.WhenPos}) {
		if c.expr == "" {
			continue
		}
		ok, err := tmpl.Cond(c.pos, c.expr, vars)
		if err != nil {
			return e.templateFailure(ctx, hs, err)
		}
		if !ok {
			return result{status: Skipped, msg: "condition is false: " + c.expr}
		}
	}
	var d *inventory.Host // the delegate
	if st.DelegateTo != "" {
		c, dh, failed := e.delegate(ctx, st, h, hs, vars)
		if failed != nil {
			return *failed
		}
		conn, d = c, dh
		// Runs before the deferred record: the result says where the
		// step ran, and the delegate's failures are not the host's.
		defer func() { r = delegated(r, d) }()
	}
	if conn == nil {
		c, failed := e.connect(ctx, h)
		if failed != nil {
			return *failed
		}
		conn = c
	}
	if st.Become || e.opts.Become || (h.Become && st.DelegateTo == "") {
		as, err := e.escalation(st, h, d, vars)
		if err != nil {
			return result{status: Failed, msg: err.Error()}
		}
		conn = transport.Become(conn, as)
	}
	printed := &printedConn{Conn: conn, tr: tr}
	for attempt := 1; ; attempt++ {
		r = e.hideDerived(st, e.attempt(ctx, st, h, hs, printed, vars, tr), printed)
		if r.status == Unreachable || ctx.Err() != nil {
			return r
		}
		r = e.control(ctx, st, hs, vars, r)
		why := ""
		switch {
		case r.status == Failed:
			why = r.msg
		case st.Until != "" && !(e.opts.Check && r.notRun):
			ok, err := tmpl.Cond(st.UntilPos, st.Until, withResult(vars, st, r))
			if err != nil {
				return result{status: Failed, msg: err.Error()}
			}
			if !ok {
				why = "until is still false: " + st.Until
				r = result{status: Failed, msg: fmt.Sprintf("%s (after %d attempts)", why, attempt), data: r.data}
			}
		}
		if why == "" || attempt > st.Retries {
			return r
		}
		e.emit(Event{Type: Retry, Step: st.Title(), Host: h.Name, Attempt: attempt, Message: why})
		select {
		case <-time.After(st.Delay):
		case <-ctx.Done():
			return result{status: Failed, msg: ctxMessage(ctx, ctx.Err())}
		}
	}
}

// attempt renders the step's parameters for the host, checks, and applies
// unless in check mode.
func (e *Engine) attempt(ctx context.Context, st *runbook.Step, h *inventory.Host, hs *hostState, conn transport.Conn, vars map[string]any, tr *tmpl.Tracker) result {
	file := st.In.File
	node, err := tmpl.RenderNode(file, st.With, vars)
	if err != nil {
		return e.templateFailure(ctx, hs, err)
	}
	if p := e.pendingIn(node); p != "" {
		return unknownResult("unknown until applied: " + strings.Trim(p, "()"))
	}
	e.secrets.Add(decode.SecretScalars(node))
	held := e.holdsSecret(node)
	if held {
		tr.Hold()
	}
	task := st.Module.New()
	if err := decode.Node(file, node, task, decode.Options{}); err != nil {
		return result{status: Failed, msg: fmt.Sprintf("task %s: %v", st.Module.Name, err)}
	}
	if err := tasks.Prepare(task); err != nil {
		return result{status: Failed, msg: fmt.Sprintf("%s: task %s: %v", st.Pos, st.Module.Name, err)}
	}
	th := &tasks.Host{
		Name: h.Name, Conn: conn, Vars: vars, Dir: st.In.Dir, Diff: e.opts.Diff,
		Log:   e.log.With("host", h.Name, "task", st.Module.Name),
		Facts: func(ctx context.Context) (map[string]any, error) { return e.ownFacts(ctx, st, h, hs, conn) },
		Progress: func(msg string) {
			e.emit(Event{Type: Progress, Step: st.Title(), Host: h.Name, Message: msg})
		},
		Redact: e.secrets.Redact,
	}
	change, err := task.Check(ctx, th)
	if err != nil {
		if transport.IsConnError(err) {
			return result{status: Unreachable, msg: err.Error()}
		}
		if r, ok := e.unknown(ctx, hs, err); ok {
			return r
		}
		return result{status: Failed, msg: ctxMessage(ctx, err)}
	}
	if change == nil {
		change = tasks.NoChange()
	}
	// A module may have rendered more (a template file): the Tracker saw it.
	r := result{summary: change.Summary, diff: change.Diff, data: change.Result, secret: held || tr.Held(), msg: change.Message}
	switch {
	case !change.Changed():
		r.status = OK
	case e.opts.Check || change.Apply == nil:
		r.status, r.notRun = Changed, e.opts.Check
	default:
		done, err := change.Apply(ctx)
		if err != nil {
			if transport.IsConnError(err) {
				return result{status: Unreachable, msg: err.Error(), summary: r.summary}
			}
			msg := ctxMessage(ctx, err)
			if change.Failure != nil {
				msg += "\n" + change.Failure.Error()
			}
			return result{status: Failed, msg: msg, summary: r.summary, diff: r.diff, secret: r.secret, data: done.Result, reported: done.Result != nil, changed: true}
		}
		r.status, r.data = Changed, done.Result
		// Only doing it may tell what was done (how long a wait took).
		if done.Summary != nil {
			r.summary = done.Summary
		}
	}
	if change.Failure != nil {
		// Reported alike whether or not Apply ran: check mode is honest
		// about a run that would fail.
		if u, ok := e.unknown(ctx, hs, change.Failure); ok {
			return u
		}
		r.changed = r.status == Changed
		r.status, r.msg, r.reported = Failed, change.Failure.Error(), true
	}
	return r
}

// record updates the host's state and reports the result.
func (e *Engine) record(st *runbook.Step, h *inventory.Host, hs *hostState, r *result, took time.Duration) {
	e.mu.Lock()
	hs.stats.add(r.status, r.ignored)
	switch {
	case r.status == Unreachable:
		hs.down = true
	case r.status == Failed && !r.ignored:
		hs.failed = true
	case r.status == Changed && e.opts.Check:
		hs.pending = true
	}
	if st.Register != "" {
		hs.registered[st.Register] = registered(r)
		e.live.set(h.Name, st.Register, hs.registered[st.Register])
		if r.notRun {
			hs.incomplete[st.Register] = true
		} else {
			delete(hs.incomplete, st.Register)
		}
	}
	e.mu.Unlock()
	ev := Event{Type: HostResult, Step: st.Title(), Task: st.Module.Name, Pos: st.Pos.String(), Host: h.Name,
		Status: r.status, Ignored: r.ignored, Unknown: r.unknown, Changes: r.summary, Message: r.msg, Duration: ms(took), Check: e.opts.Check,
		DelegateTo: r.via, RunOnce: r.once, Items: r.items}
	commandOutput(&ev, r)
	if e.opts.Diff {
		ev.Diff = r.diff
		if r.secret && r.diff != "" {
			ev.Diff = hideDiff(r.diff)
		}
	}
	e.emit(ev)
}

// connect returns the host's connection, or the result of failing to.
func (e *Engine) connect(ctx context.Context, h *inventory.Host) (transport.Conn, *result) {
	conn, err := e.pool.Get(ctx, target(h))
	if err != nil {
		r := connFailure(ctx, err)
		return nil, &r
	}
	return conn, nil
}

func connFailure(ctx context.Context, err error) result {
	if transport.IsConnError(err) {
		return result{status: Unreachable, msg: err.Error()}
	}
	return result{status: Failed, msg: ctxMessage(ctx, err)}
}

// templateFailure is the result of a template that could not be rendered:
// a failure, unless in check mode it read a value that a step registered
// without running (see unknown).
func (e *Engine) templateFailure(ctx context.Context, hs *hostState, err error) result {
	if r, ok := e.unknown(ctx, hs, err); ok {
		return r
	}
	return result{status: Failed, msg: err.Error()}
}

// registered is what `register: name` makes available as .name.
func registered(r *result) map[string]any {
	out := map[string]any{}
	maps.Copy(out, r.data)
	out["status"] = string(r.status)
	// A failure that changed the host all the same (an item of a loop,
	// an apply that failed halfway) registers changed too, as in Ansible.
	out["changed"] = r.status == Changed || (r.status == Failed && r.changed)
	out["failed"] = r.status == Failed || r.status == Unreachable
	out["skipped"] = r.status == Skipped
	if r.msg != "" {
		out["msg"] = r.msg
	}
	return out
}

func withResult(vars map[string]any, st *runbook.Step, r result) map[string]any {
	out := maps.Clone(vars)
	reg := registered(&r)
	out["result"] = reg
	if st.Register != "" {
		out[st.Register] = reg
	}
	return out
}

func target(h *inventory.Host) transport.Target {
	return transport.Target{Name: h.Name, Local: h.Local(), Address: h.Address, Port: h.Port, User: h.User, KeyFile: h.Key, ProxyJump: h.ProxyJump}
}

// ctxMessage explains an error that came from the step's timeout or from
// an interruption, and passes others through.
func ctxMessage(ctx context.Context, err error) string {
	if ctx.Err() == nil {
		return err.Error()
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause.Error()
	}
	return "interrupted"
}
