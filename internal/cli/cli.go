// Package cli is runbook's command line.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/runbookdev/runbook/internal/output"
	"github.com/spf13/cobra"
)

// Exit codes, as Terraform's -detailed-exitcode.
const (
	ExitOK    = 0
	ExitError = 1
	ExitDrift = 2
)

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

// env is what every command reads from and writes to.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// code is the exit code of the command that ran.
	code int
}

// errorf reports an error. It may quote what a host or an inventory
// provider sent, so it is escaped for the terminal.
func (e *env) errorf(format string, args ...any) int {
	fmt.Fprintf(e.stderr, "runbook: %s\n", output.Escape(fmt.Sprintf(format, args...)))
	return ExitError
}

// usagef reports a command line that cmd cannot take: one line, and where
// to read how it is used, never the whole usage.
func (e *env) usagef(cmd *cobra.Command, format string, args ...any) int {
	e.errorf(format, args...)
	fmt.Fprintf(e.stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	return ExitError
}

// Run runs runbook with args (without the program name) and returns the
// exit code. Standard input is os.Stdin.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return RunWithInput(ctx, args, os.Stdin, stdout, stderr)
}

// RunWithInput is Run reading standard input from stdin (`runbook secrets
// set` reads a value from it).
func RunWithInput(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := newRoot(e)
	if len(args) == 0 {
		// As most tools do: the usage, on stderr, and a failure.
		root.SetOut(stderr)
		_ = root.Help()
		return ExitError
	}
	root.SetArgs(oneDashLong(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err != nil {
		if cmd == nil {
			cmd = root
		}
		msg := err.Error()
		var ue *usageError
		if errors.As(err, &ue) {
			msg = ue.message()
		}
		return e.usagef(cmd, "%s", msg)
	}
	return e.code
}

// run adapts a command's function to cobra: the exit code it returns is
// Run's.
func (e *env) run(fn func(ctx context.Context, cmd *cobra.Command, args []string) int) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		e.code = fn(cmd.Context(), cmd, args)
		return nil
	}
}

func logger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}
