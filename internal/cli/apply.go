package cli

import (
	"context"
	"errors"
	"os"
	"time"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/output"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/inventory"
	"github.com/spf13/cobra"
)

type applyFlags struct {
	inventories []string
	extra       []string
	limit       list
	tags        list
	skipTags    list
	startAt     string
	listHosts   bool
	listTasks   bool
	check       bool
	diff        bool
	forks       int
	output      string
	knownHosts  string
	acceptNew   bool
	privateKey  string
	user        string
	connTimeout time.Duration
	verbose     bool
	lockTimeout lockTimeout
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
  runbook apply -i inventory/hosts.yaml --check --diff site.yaml
  runbook apply -i inventory/hosts.yaml --limit web --tags deploy site.yaml`,
		RunE: e.run(func(ctx context.Context, cmd *cobra.Command, args []string) int {
			return runApply(ctx, e, cmd, &f, args)
		}),
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringArrayVarP(&f.inventories, "inventory", "i", nil, "inventory: a `FILE` (runbook's, or Ansible's INI or YAML) or a directory of them (repeatable)")
	fs.StringArrayVarP(&f.extra, "extra-vars", "e", nil, "extra variables (`VARS`): key=value, a YAML/JSON mapping, or @file.yaml (repeatable; highest precedence)")
	fs.Var(&f.limit, "limit", "only these hosts or groups (comma-separated `PATTERNS`)")
	group(fs, "Inventory and variables", "inventory", "extra-vars", "limit")
	fs.BoolVar(&f.check, "check", false, "report what would change, change nothing; exit 2 when anything would")
	fs.BoolVar(&f.diff, "diff", false, "show content diffs")
	fs.Var(&f.tags, "tags", "only steps with these `TAGS`")
	fs.Var(&f.skipTags, "skip-tags", "skip steps with these `TAGS`")
	fs.StringVar(&f.startAt, "start-at-task", "", "skip the steps before the first step of this `NAME` (imports included)")
	fs.BoolVar(&f.listHosts, "list-hosts", false, "print the hosts each step would run on, and run nothing")
	fs.BoolVar(&f.listTasks, "list-tasks", false, "print the steps that would run, with their tags, and run nothing")
	fs.IntVar(&f.forks, "forks", engine.DefaultForks, "`N` hosts worked on at once")
	fs.Var(&f.lockTimeout, "lock-timeout", "how long to wait for the run lock an inventory asks for (lock:) while another run holds it; 0: fail at once (default: as long as it takes)")
	group(fs, "Run", "check", "diff", "tags", "skip-tags", "start-at-task", "list-hosts", "list-tasks", "forks", "lock-timeout")
	fs.StringVar(&f.user, "user", "", "SSH `USER` for hosts whose inventory names none (default: the current user)")
	fs.StringVar(&f.privateKey, "private-key", "", "SSH private key `FILE` for hosts whose inventory names none")
	fs.StringVar(&f.knownHosts, "known-hosts", "", "known_hosts `FILE` (default $RUNBOOK_KNOWN_HOSTS, then ~/.ssh/known_hosts, then /etc/ssh/ssh_known_hosts)")
	fs.BoolVar(&f.acceptNew, "accept-new-host-keys", false, "trust hosts seen for the first time and record their keys; changed keys are still refused")
	fs.DurationVar(&f.connTimeout, "connect-timeout", 20*time.Second, "how long to wait for a host's SSH connection")
	group(fs, "Connection", "user", "private-key", "known-hosts", "accept-new-host-keys", "connect-timeout")
	fs.StringVar(&f.output, "output", "text", "`FORMAT`: text or json (one event per line)")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log diagnostics to stderr")
	group(fs, "Output", "output", "verbose")
	return cmd
}

func runApply(ctx context.Context, e *env, cmd *cobra.Command, f *applyFlags, pos []string) int {
	if len(pos) != 1 {
		return e.usagef(cmd, "apply takes exactly one runbook, got %d", len(pos))
	}
	if f.output != "text" && f.output != "json" {
		return e.errorf("--output must be text or json, got %q", f.output)
	}
	if f.forks < 1 {
		return e.errorf("--forks must be 1 or more, got %d", f.forks)
	}
	if f.connTimeout <= 0 {
		// 0 would mean the transport's default, below 0 no time at all.
		return e.errorf("--connect-timeout must be above 0, such as 20s; got %s", f.connTimeout)
	}
	if f.privateKey != "" {
		if _, err := os.Stat(sshkeys.ExpandHome(f.privateKey)); err != nil {
			return e.errorf("--private-key %s: %v", f.privateKey, statError(err))
		}
	}
	rb, err := runbook.Load(pos[0])
	if err != nil {
		return e.errorf("%v", err)
	}
	extra, err := tmpl.ParseExtraVars(f.extra)
	if err != nil {
		return e.errorf("%v", err)
	}
	invs := f.inventories
	if len(invs) == 0 {
		invs = rb.Inventory
	}
	sources, err := openInventories(invs)
	if err != nil {
		return e.errorf("%v", err)
	}
	opts := engine.Options{
		Check: f.check, Diff: f.diff, Forks: f.forks, Limit: f.limit,
		Tags: f.tags, SkipTags: f.skipTags, StartAt: f.startAt, ExtraVars: extra,
	}
	if rb.SecretsFile != "" {
		opts.SecretStore = agevars.NewStore(rb.SecretsFile, f.check)
	}
	if f.listHosts || f.listTasks {
		return listRun(ctx, e, rb, sources, opts, f.listHosts, f.listTasks, f.output)
	}
	keys := &transport.HostKeys{Files: transport.DefaultKnownHosts(), AcceptNew: f.acceptNew}
	if env := os.Getenv("RUNBOOK_KNOWN_HOSTS"); env != "" {
		keys.Files = append([]string{env}, keys.Files...)
	}
	if f.knownHosts != "" {
		keys.Files = []string{f.knownHosts}
	}
	pool := &transport.Pool{Keys: keys, Timeout: f.connTimeout, User: f.user}
	if f.privateKey != "" {
		pool.KeyFiles = []string{f.privateKey}
	}
	defer pool.Close()

	var out engine.Reporter = output.NewText(e.stdout)
	if f.output == "json" {
		out = output.NewJSON(e.stdout)
	}
	var guard func() error
	if !f.check {
		// A check changes nothing: it need not wait for a run that does.
		g, release, err := takeRunLocks(ctx, sources, pos[0], f.lockTimeout, out)
		if err != nil {
			return e.errorf("%v", err)
		}
		defer release()
		guard = g
	}
	opts.Guard = guard
	eng := engine.New(opts, sources, pool, out, logger(e.stderr, f.verbose))
	if err := eng.Preflight(ctx, rb); err != nil {
		return e.errorf("%s", eng.Redact(err.Error()))
	}
	sum, err := eng.Run(ctx, rb)
	switch {
	case err != nil, sum.Failed():
		// The recap has said what failed or why the run stopped.
		return ExitError
	case f.check && sum.Changed():
		return ExitDrift
	}
	return ExitOK
}

// statError says what is wrong with a file without the system call's name.
func statError(err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return "no such file"
	}
	return err.Error()
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
