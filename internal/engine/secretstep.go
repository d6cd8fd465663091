package engine

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/tasks"
)

// A step whose renderings read a secret (its parameters, a template file
// its module rendered) may have handed the secret to its host, and the
// host may print it in any form: upper-cased, encoded, reversed, cut up.
// No list of forms can follow that, so what such a step's commands print
// is treated as secret:
//
//   - what the step registers (stdout, stderr, every string of its result)
//     is a secret of the run, hidden wherever it is shown later in any of
//     the forms of a secret, and read by later templates as a secret;
//   - in the step's own message and summary (a failure quotes the end of
//     its output, whatever the module), every line any of its commands
//     printed is hidden, registered or not;
//   - its diff is hidden, as for a step whose parameters hold a secret.
//
// The lines of output are hidden only in the step's own report: a probe's
// output (the file it read to diff) is not secret elsewhere.

// printedConn records what the commands run through it print, once the
// step's renderings have read a secret.
type printedConn struct {
	transport.Conn
	tr *tmpl.Tracker

	mu      sync.Mutex
	printed [][]byte
}

func (c *printedConn) Run(ctx context.Context, cmd string, stdin io.Reader) (transport.Result, error) {
	res, err := c.Conn.Run(ctx, cmd, stdin)
	if c.tr.Held() {
		c.mu.Lock()
		c.printed = append(c.printed, res.Stdout, res.Stderr)
		c.mu.Unlock()
	}
	return res, err
}

// hideDerived applies the rule above to r, the result of an attempt of
// st whose connection is c.
func (e *Engine) hideDerived(st *runbook.Step, r result, c *printedConn) result {
	if !c.tr.Held() {
		return r
	}
	r.secret = true
	if st.Register != "" {
		tmpl.WalkStrings(r.data, func(s string) { e.secrets.Add(s) })
	}
	var printed secret.Set
	c.mu.Lock()
	for _, p := range c.printed {
		for _, l := range strings.Split(string(p), "\n") {
			printed.AddDerived(strings.TrimSpace(l))
		}
	}
	c.mu.Unlock()
	r.msg = printed.Redact(r.msg)
	if len(r.summary) > 0 {
		summary := make([]string, len(r.summary))
		for i, s := range r.summary {
			summary[i] = printed.Redact(s)
		}
		r.summary = summary
	}
	return r
}

// Redact hides in s what the run knows is secret, for what its caller
// prints itself, such as an error from Preflight.
func (e *Engine) Redact(s string) string { return e.secrets.Redact(s) }

// taint is what Check renders with: one that adds to opts.Secrets, if set.
func (o Options) taint() *tmpl.Taint {
	if o.Secrets == nil {
		return nil
	}
	return tmpl.NewTaint(o.Secrets)
}

// addSecrets adds the -e values marked !secret to opts.Secrets, if set:
// Check may quote them (a host pattern that matches nothing).
func addSecrets(opts Options) {
	if opts.Secrets == nil {
		return
	}
	for _, v := range opts.ExtraVars {
		if v.Secret {
			opts.Secrets.Add(v.Value)
		}
	}
}

// CanReconnect says whether the connection under it can (see Reconnect).
func (c *printedConn) CanReconnect() bool { return tasks.CanReconnect(c.Conn) }

// Reconnect reconnects the connection under it (see tasks.Reconnecter):
// a module that rebooted the host needs it through this wrapper too.
func (c *printedConn) Reconnect(ctx context.Context) error {
	r, ok := c.Conn.(tasks.Reconnecter)
	if !ok {
		return fmt.Errorf("reconnect: %w", tasks.ErrNotSupported)
	}
	return r.Reconnect(ctx)
}
