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
	"github.com/runbookdev/runbook/internal/prompt"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/sshconfig"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/inventory"
)

type applyFlags struct {
	inventories repeated
	extra       repeated
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
	sshConfig   string
	connTimeout time.Duration
	verbose     bool
	lockTimeout lockTimeout
	askBecome   bool
}

func runApply(ctx context.Context, e *env, args []string) int {
	var f applyFlags
	fs := newFlags(e, "apply", "[flags] RUNBOOK")
	fs.Var(&f.inventories, "i", "inventory: a file (runbook's, or Ansible's INI or YAML) or a directory of them (repeatable)")
	fs.Var(&f.extra, "e", "extra variables: key=value, a YAML/JSON mapping, or @file.yaml (repeatable; highest precedence)")
	fs.Var(&f.limit, "limit", "only these hosts or groups (comma-separated patterns)")
	fs.Var(&f.tags, "tags", "only steps with these tags")
	fs.Var(&f.skipTags, "skip-tags", "skip steps with these tags")
	fs.StringVar(&f.startAt, "start-at-task", "", "skip the steps before the first step of this name (imports included)")
	fs.BoolVar(&f.listHosts, "list-hosts", false, "print the hosts each step would run on, and run nothing")
	fs.BoolVar(&f.listTasks, "list-tasks", false, "print the steps that would run, with their tags, and run nothing")
	fs.BoolVar(&f.check, "check", false, "report what would change, change nothing; exit 2 when anything would")
	fs.BoolVar(&f.diff, "diff", false, "show content diffs")
	fs.IntVar(&f.forks, "forks", engine.DefaultForks, "hosts worked on at once")
	fs.StringVar(&f.output, "output", "text", "text or json (one event per line)")
	fs.StringVar(&f.knownHosts, "known-hosts", "", "known_hosts file (default $RUNBOOK_KNOWN_HOSTS, then ~/.ssh/known_hosts, then /etc/ssh/ssh_known_hosts)")
	fs.BoolVar(&f.acceptNew, "accept-new-host-keys", false, "trust hosts seen for the first time and record their keys; changed keys are still refused")
	fs.StringVar(&f.privateKey, "private-key", "", "SSH private key for hosts whose inventory names none")
	fs.StringVar(&f.user, "user", "", "SSH user for hosts whose inventory names none (default: ~/.ssh/config's, else the current user)")
	fs.StringVar(&f.sshConfig, "F", "", "ssh_config file to read instead of ~/.ssh/config and /etc/ssh/ssh_config, as ssh -F")
	fs.StringVar(&f.sshConfig, "ssh-config", "", "same as -F")
	fs.DurationVar(&f.connTimeout, "connect-timeout", 20*time.Second, "how long to wait for a host's SSH connection")
	fs.BoolVar(&f.verbose, "v", false, "log diagnostics to stderr")
	fs.BoolVar(&f.askBecome, "K", false, "ask for the become password once, without echo (sudo's: the login user's; su's: the target user's)")
	fs.BoolVar(&f.askBecome, "ask-become-pass", false, "the same as -K")
	fs.Var(&f.lockTimeout, "lock-timeout", "how long to wait for the run lock an inventory asks for (lock:) while another run holds it; 0: fail at once (default: as long as it takes)")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	if len(pos) != 1 {
		fs.Usage()
		return e.errorf("apply takes exactly one runbook, got %d", len(pos))
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
	invs := []string(f.inventories)
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
	sshCfg, err := sshconfig.Load(f.sshConfig)
	if err != nil {
		return e.errorf("%v", err)
	}
	if f.askBecome {
		pw, err := prompt.Password(ctx, e.stdin, e.stderr, "BECOME password: ")
		if err != nil {
			return e.errorf("-K: %v", err)
		}
		opts.BecomePassword = pw
	}
	keys := &transport.HostKeys{Files: transport.DefaultKnownHosts(), AcceptNew: f.acceptNew}
	if env := os.Getenv("RUNBOOK_KNOWN_HOSTS"); env != "" {
		keys.Files = append([]string{env}, keys.Files...)
		keys.Explicit = true
	}
	if f.knownHosts != "" {
		keys.Files = []string{f.knownHosts}
		keys.Explicit = true
	}
	log := logger(e.stderr, f.verbose)
	pool := &transport.Pool{Keys: keys, Timeout: f.connTimeout, User: f.user, SSHConfig: sshCfg, Log: log}
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
	eng := engine.New(opts, sources, pool, out, log)
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
