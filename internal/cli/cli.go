// Package cli is runbook's command line.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/runbookdev/runbook/internal/output"
)

// Exit codes, as Terraform's -detailed-exitcode.
const (
	ExitOK    = 0
	ExitError = 1
	ExitDrift = 2
)

// Version is set at build time with -ldflags "-X ...cli.Version=...".
var Version = "dev"

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, env *env, args []string) int
}

// env is what every command reads from and writes to.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

// errorf reports an error. It may quote what a host or an inventory
// provider sent, so it is escaped for the terminal.
func (e *env) errorf(format string, args ...any) int {
	fmt.Fprintf(e.stderr, "runbook: %s\n", output.Escape(fmt.Sprintf(format, args...)))
	return ExitError
}

func commands() []command {
	return []command{
		{"apply", "converge hosts to a runbook; with --check, report drift and change nothing", runApply},
		{"validate", "check runbooks (and inventories) without contacting any host", runValidate},
		{"inventory", "show hosts, groups and variables as resolved", runInventory},
		{"tasks", "list the task modules compiled in, with their parameters", runTasks},
		{"secrets", "vars files whose values are encrypted with age: init, encrypt, decrypt, edit, set, rekey, show", runSecrets},
		{"schema", "write the JSON Schema of runbooks and every module's parameters, for editors", runSchema},
		{"lab", "a local Equinix-Metal-compatible cloud of real Linux hosts (needs root)", runLab},
		{"version", "print runbook's version", runVersion},
	}
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
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return ExitError
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, e, args[1:])
		}
	}
	return e.errorf("unknown command %q: run `runbook help` for the list", args[0])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "runbook converges fleets of hosts to declarative, ordered runbooks over SSH.\n\nUsage: runbook COMMAND [flags] [args]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun `runbook COMMAND -h` for a command's flags. Exit codes: 0 ok (no drift), 1 error or failure, 2 drift found with --check.")
}

// parse parses flags that may come before or after the positional
// arguments, as in `runbook apply site.yaml --check`.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlags(e *env, name, usageLine string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "Usage: runbook %s %s\n\nFlags:\n", name, usageLine)
		fs.PrintDefaults()
	}
	return fs
}

func parseOrExit(fs *flag.FlagSet, args []string) ([]string, int, bool) {
	pos, err := parse(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, ExitOK, false
	}
	if err != nil {
		return nil, ExitError, false
	}
	return pos, 0, true
}

// list is a flag that can be repeated and takes comma-separated values.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// repeated is a flag that can be repeated, each value kept whole.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, " ") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func logger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelWarn
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))
}

func runVersion(_ context.Context, e *env, _ []string) int {
	fmt.Fprintf(e.stdout, "runbook %s\n", Version)
	return ExitOK
}
