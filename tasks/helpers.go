package tasks

import (
	"context"
	"fmt"

	"github.com/runbookdev/runbook/internal/tmpl"
)

// Quote quotes s for the host's shell.
func Quote(s string) string { return tmpl.ShellQuote(s) }

// RunOK runs cmd and turns a non-zero exit into an error.
func RunOK(ctx context.Context, c Conn, cmd string) error {
	res, err := c.Run(ctx, cmd, nil)
	if err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("%s: %s", cmd, res.Failure())
	}
	return nil
}
