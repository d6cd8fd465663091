package cli

import (
	"context"
	"fmt"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
	"github.com/spf13/cobra"
)

type applyFlags struct {
	targetFlags
	connFlags
	outFlags
	check       bool
	diff        bool
	tags        list
	skipTags    list
	startAt     string
	listHosts   bool
	listTasks   bool
	forks       int
	lockTimeout lockTimeout
	askBecome   bool
}

func newApplyCmd(e *env) *cobra.Command {
	var f applyFlags
	cmd := &cobra.Command{
		Use:   "apply [flags] RUNBOOK",
		Short: "converge hosts to a runbook; with --check, report drift and change nothing",
		Long: `Converge hosts to a runbook: its steps in order, each on its hosts in
parallel over SSH. With --check, report what would change and change
nothing; the exit code is then 2 when anything would.`,
		Example: `  runbook apply -i inventory/hosts.yaml site.yaml
  runbook apply -i inventory/hosts.yaml -C -D site.yaml       # drift, changes nothing
  runbook apply -i inventory/ -l web -t deploy -e "version=1.2 env=prod" site.yaml`,
		Annotations: map[string]string{"footer": exitCodes},
		RunE: e.run(func(ctx context.Context, cmd *cobra.Command, args []string) int {
			return runApply(ctx, e, cmd, &f, args)
		}),
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	f.targetFlags.register(fs)
	fs.BoolVarP(&f.check, "check", "C", false, "report what would change, change nothing; exit 2 when anything would")
	fs.BoolVarP(&f.diff, "diff", "D", false, "show content diffs")
	fs.VarP(&f.tags, "tags", "t", "only steps with these `TAGS`")
	fs.Var(&f.skipTags, "skip-tags", "skip steps with these `TAGS`")
	fs.StringVar(&f.startAt, "start-at-task", "", "skip the steps before the first step of this `NAME` (imports included)")
	fs.BoolVar(&f.listHosts, "list-hosts", false, "print the hosts each step would run on, and run nothing")
	fs.BoolVar(&f.listTasks, "list-tasks", false, "print the steps that would run, with their tags, and run nothing")
	fs.IntVarP(&f.forks, "forks", "f", engine.DefaultForks, "`N` hosts worked on at once")
	fs.Var(&f.lockTimeout, "lock-timeout", "how long to wait for the run lock an inventory asks for (lock:) while another run holds it; 0: fail at once (default: as long as it takes)")
	group(fs, "Run", "check", "diff", "tags", "skip-tags", "start-at-task", "list-hosts", "list-tasks", "forks", "lock-timeout")
	f.connFlags.register(fs)
	f.outFlags.register(fs)
	cmd.ValidArgsFunction = runbookFiles(1)
	completeWith(cmd, inventoryFiles, "inventory")
	completeWith(cmd, hostPatterns, "limit")
	completeWith(cmd, tagNames, "tags", "skip-tags")
	completeWith(cmd, formats("text", "json"), "output")
	return cmd
}

// exitCodes ends the help of the commands that run steps.
const exitCodes = "Exit codes: 0 ok (no drift), 1 error or failure, 2 drift found with --check."

func runApply(ctx context.Context, e *env, cmd *cobra.Command, f *applyFlags, pos []string) int {
	if len(pos) != 1 {
		return e.usagef(cmd, "apply takes exactly one runbook, got %d", len(pos))
	}
	if err := f.outFlags.check(); err != nil {
		return e.errorf("%v", err)
	}
	if f.forks < 1 {
		return f.fail(e, fmt.Errorf("--forks must be 1 or more, got %d", f.forks), nil)
	}
	if err := f.connFlags.check(); err != nil {
		return f.fail(e, err, nil)
	}
	rb, err := runbook.Load(pos[0])
	if err != nil {
		return f.fail(e, err, nil)
	}
	extra, err := tmpl.ParseExtraVars(f.extra)
	if err != nil {
		return f.fail(e, err, nil)
	}
	invs := f.inventories
	if len(invs) == 0 {
		invs = rb.Inventory
	}
	sources, err := openInventories(invs)
	if err != nil {
		return f.fail(e, err, nil)
	}
	opts := engine.Options{
		Check: f.check, Diff: f.diff, Forks: f.forks, Limit: f.limit, Become: f.become,
		Tags: f.tags, SkipTags: f.skipTags, StartAt: f.startAt, ExtraVars: extra,
	}
	if rb.SecretsFile != "" {
		store := agevars.NewStore(rb.SecretsFile, f.check)
		if f.check && len(rb.Rotate) > 0 {
			// The check sees the rollout of new ones, as the run would.
			if err := store.Retiring(rb.Rotate); err != nil {
				return f.fail(e, err, nil)
			}
		}
		opts.SecretStore = store
	}
	if f.listHosts || f.listTasks {
		return listRun(ctx, e, rb, sources, opts, f.listHosts, f.listTasks, f.format)
	}
	if opts.BecomePassword, err = f.becomePass(ctx, e); err != nil {
		return f.fail(e, err, nil)
	}
	pool, err := f.pool(logger(e.stderr, f.verbose >= 3))
	if err != nil {
		return f.fail(e, err, nil)
	}
	defer pool.Close()

	out := f.reporter(e.stdout)
	var guard func() error
	if !f.check {
		// A check changes nothing: it need not wait for a run that does.
		g, release, err := takeRunLocks(ctx, sources, applying(pos[0]), f.lockTimeout, out)
		if err != nil {
			return f.fail(e, err, nil)
		}
		defer release()
		guard = g
	}
	opts.Guard = guard
	eng := engine.New(opts, sources, pool, out, logger(e.stderr, f.verbose >= 3))
	var start func() error
	if !f.check && len(rb.Rotate) > 0 {
		start = func() error { return retire(e, rb) }
	}
	return execute(ctx, e, &f.outFlags, eng, rb, f.check, start)
}

// retire retires the secrets a rotation runbook names, once the checks
// before its run have passed and under its run lock: its steps then make
// and roll out new ones. A name the file does not hold yet is made by the
// run, as in any run.
func retire(e *env, rb *runbook.Runbook) error {
	retired, absent, err := agevars.RotateHeld(rb.SecretsFile, rb.Rotate)
	if err != nil {
		return fmt.Errorf("rotate the secrets of %s: %w", rb.File, err)
	}
	for _, r := range retired {
		fmt.Fprintf(e.stderr, "%s: retired to %s; this run makes and rolls out a new one\n", r.Name, r.Previous)
	}
	for _, name := range absent {
		fmt.Fprintf(e.stderr, "%s: nothing to retire yet; this run makes it\n", name)
	}
	return nil
}

// execute runs rb on eng after the checks before a run (and start, when
// given, after them), and turns how it went into the exit code.
func execute(ctx context.Context, e *env, o *outFlags, eng *engine.Engine, rb *runbook.Runbook, check bool, start func() error) int {
	if err := eng.Preflight(ctx, rb); err != nil {
		return o.fail(e, err, eng.Redact)
	}
	if start != nil {
		if err := start(); err != nil {
			return o.fail(e, err, eng.Redact)
		}
	}
	sum, err := eng.Run(ctx, rb)
	switch {
	case err != nil, sum.Failed():
		// The recap has said what failed or why the run stopped.
		return ExitError
	case check && sum.Changed():
		return ExitDrift
	}
	return ExitOK
}

func openInventories(files []string) (inventory.Sources, error) {
	var sources inventory.Sources
	var errs decode.List
	for _, f := range files {
		p, err := inventory.Open(f)
		if err != nil {
			errs.Add(err)
			continue
		}
		sources = append(sources, p)
	}
	return sources, errs.Err()
}
