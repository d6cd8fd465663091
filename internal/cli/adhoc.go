package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/output"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
	"github.com/runbookdev/runbook/tasks"
	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// adhocFile names the runbook of `runbook run` in errors and events.
const adhocFile = "ad-hoc"

type adhocFlags struct {
	targetFlags
	connFlags
	outFlags
	module      string
	args        string
	check       bool
	diff        bool
	forks       int
	listHosts   bool
	lockTimeout lockTimeout
}

func newRunCmd(e *env) *cobra.Command {
	var f adhocFlags
	cmd := &cobra.Command{
		Use:   "run PATTERN [flags]",
		Short: "run one command, or one module, on the hosts of a pattern, and show what each printed",
		Long: `Run one command (or, with -m, one module) on every host of PATTERN, as
Ansible's ad-hoc commands do, and show what each host printed: hosts that
printed the same together, failures one by one with their exit code.
It is a runbook of one step, run as apply runs it.`,
		Example: `  runbook run -i inventory/hosts.yaml all -a 'uname -r'
  runbook run -i inventory/ 'web:&prod' -b -a 'systemctl is-active nginx'
  runbook run -i inventory/ web01 -m file -a 'path=/etc/motd content="hello"' -C -D`,
		Annotations: map[string]string{"footer": "See 'runbook help patterns' for PATTERN.\n" + exitCodes},
		RunE: e.run(func(ctx context.Context, cmd *cobra.Command, args []string) int {
			return runAdHoc(ctx, e, cmd, &f, args)
		}),
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringVarP(&f.module, "module", "m", "command", "the `MODULE` to run (runbook tasks lists them)")
	fs.StringVarP(&f.args, "args", "a", "", "`ARGS`: the command line, for command; for other modules their parameters, as key=value ... or a YAML mapping")
	group(fs, "Module", "module", "args")
	f.targetFlags.register(fs)
	fs.BoolVarP(&f.check, "check", "C", false, "report what would change, change nothing (a command does not run); exit 2 when anything would")
	fs.BoolVarP(&f.diff, "diff", "D", false, "show content diffs")
	fs.IntVarP(&f.forks, "forks", "f", engine.DefaultForks, "`N` hosts worked on at once")
	fs.BoolVar(&f.listHosts, "list-hosts", false, "print the hosts PATTERN matches, and run nothing")
	fs.Var(&f.lockTimeout, "lock-timeout", "how long to wait for the run lock an inventory asks for (lock:) while another run holds it; 0: fail at once (default: as long as it takes)")
	group(fs, "Run", "check", "diff", "forks", "list-hosts", "lock-timeout")
	f.connFlags.register(fs)
	f.outFlags.register(fs)
	fs.Lookup("verbose").Usage = "-vvv: log diagnostics to stderr (what hosts print is always shown)"
	cmd.ValidArgsFunction = func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return hostPatterns(cmd, args, toComplete)
	}
	completeWith(cmd, moduleNames, "module")
	completeWith(cmd, inventoryFiles, "inventory")
	completeWith(cmd, hostPatterns, "limit")
	completeWith(cmd, formats("text", "json"), "output")
	return cmd
}

func runAdHoc(ctx context.Context, e *env, cmd *cobra.Command, f *adhocFlags, pos []string) int {
	switch {
	case len(pos) == 0:
		return e.usagef(cmd, "run needs a host pattern, such as all or web")
	case len(pos) > 1:
		return e.usagef(cmd, "run takes one host pattern, got %d: join patterns with a colon, as in %s:%s", len(pos), pos[0], pos[1])
	}
	if len(f.inventories) == 0 {
		return e.usagef(cmd, "run needs an inventory: give one with -i")
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
	args := f.args
	if f.listHosts && f.module == "command" && args == "" {
		// Listing needs no command, but the step it lists must be valid.
		args = "true"
	}
	rb, err := adhocRunbook(pos[0], f.module, args)
	if err != nil {
		return f.fail(e, err, nil)
	}
	extra, err := tmpl.ParseExtraVars(f.extra)
	if err != nil {
		return f.fail(e, err, nil)
	}
	sources, err := openInventories(f.inventories)
	if err != nil {
		return f.fail(e, err, nil)
	}
	opts := engine.Options{Check: f.check, Diff: f.diff, Forks: f.forks, Limit: f.limit, Become: f.become, ExtraVars: extra}
	if f.listHosts {
		return f.printHosts(ctx, e, rb, sources, opts)
	}
	if opts.BecomePassword, err = f.becomePass(ctx, e); err != nil {
		return f.fail(e, err, nil)
	}
	pool, err := f.pool(logger(e.stderr, f.verbose >= 3))
	if err != nil {
		return f.fail(e, err, nil)
	}
	defer pool.Close()
	var out engine.Reporter = output.NewAdHoc(e.stdout)
	if f.format == "json" {
		out = output.NewJSON(e.stdout)
	}
	if !f.check {
		// As apply: what runs for real waits for other runs that do.
		doing := fmt.Sprintf("running ad-hoc: %s on %s", f.module, pos[0])
		guard, release, err := takeRunLocks(ctx, sources, doing, f.lockTimeout, out)
		if err != nil {
			return f.fail(e, err, nil)
		}
		defer release()
		opts.Guard = guard
	}
	eng := engine.New(opts, sources, pool, out, logger(e.stderr, f.verbose >= 3))
	return execute(ctx, e, &f.outFlags, eng, rb, f.check, nil)
}

// printHosts prints the hosts the pattern matches, as ansible's
// --list-hosts does.
func (f *adhocFlags) printHosts(ctx context.Context, e *env, rb *runbook.Runbook, sources inventory.Sources, opts engine.Options) int {
	inv, err := sources.Load(ctx)
	if err != nil {
		return f.fail(e, fmt.Errorf("load inventory: %w", err), nil)
	}
	warnInventory(e, inv, map[string]bool{})
	var secrets secret.Set // a pattern may be rendered from one
	opts.Secrets = &secrets
	plan, err := engine.Plan(rb, inv, opts)
	if err != nil {
		return f.fail(e, err, secrets.Redact)
	}
	hosts := []string{}
	for _, h := range plan[0].Hosts {
		hosts = append(hosts, h.Name)
	}
	if f.format == "json" {
		b, err := json.Marshal(map[string][]string{"hosts": hosts})
		if err != nil {
			return e.errorf("hosts as JSON: %v", err)
		}
		_, _ = e.stdout.Write(append(output.EscapeJSON([]byte(secrets.Redact(string(b)))), '\n'))
		return ExitOK
	}
	fmt.Fprintf(e.stdout, "  hosts (%d):\n", len(hosts))
	for _, h := range hosts {
		fmt.Fprintf(e.stdout, "    %s\n", output.EscapeLine(secrets.Redact(h)))
	}
	return ExitOK
}

// adhocRunbook is the runbook of one step that `runbook run` runs: module
// on the hosts of pattern, with args.
func adhocRunbook(pattern, module, args string) (*runbook.Runbook, error) {
	if _, ok := tasks.Lookup(module); !ok {
		return nil, fmt.Errorf("-m %s: no such module%s; runbook tasks lists them", decode.Quote(module), decode.Suggest(module, tasks.Names()))
	}
	with, err := moduleArgs(module, args)
	if err != nil {
		return nil, err
	}
	step := mapping(scalar("hosts"), scalar(pattern), scalar("task"), scalar(module), scalar("with"), with)
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{
		mapping(scalar("steps"), &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{step}}),
	}}
	dir, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("ad-hoc: the current directory: %w", err)
	}
	return runbook.FromNode(adhocFile, dir, doc)
}

// moduleArgs reads -a: for command, the command line itself, as Ansible's
// -a 'uname -r'; for other modules, key=value pairs as -e takes them (a
// quoted value stays a string) or a YAML mapping.
func moduleArgs(module, args string) (*yaml.Node, error) {
	if module == "command" {
		if strings.TrimSpace(args) == "" {
			return nil, errors.New("-a: give the command to run, as in -a 'uname -r'")
		}
		return mapping(scalar("cmd"), scalar(args)), nil
	}
	if strings.TrimSpace(args) == "" {
		return mapping(), nil
	}
	if strings.HasPrefix(strings.TrimSpace(args), "{") {
		doc, err := decode.Parse(adhocFile, []byte(args))
		if err != nil {
			return nil, fmt.Errorf("-a: %w", err)
		}
		if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
			return nil, fmt.Errorf("-a %s: want key=value ... or a mapping", decode.Quote(args))
		}
		// Positions in -a would be read as lines of a file.
		unplace(doc.Content[0])
		return doc.Content[0], nil
	}
	pairs, err := tmpl.SplitPairs(args)
	if err != nil {
		return nil, fmt.Errorf("-a %s: %w", decode.Quote(args), err)
	}
	m := mapping()
	for _, p := range pairs {
		v := typed(p.Value)
		if p.Quoted {
			v = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: p.Value}
		}
		m.Content = append(m.Content, scalar(p.Key), v)
	}
	return m, nil
}

func scalar(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// typed is s as YAML reads a plain scalar: 0644 and true keep their
// types, as they would written in a runbook.
func typed(s string) *yaml.Node {
	var n yaml.Node
	if err := yaml.Unmarshal([]byte(s), &n); err == nil && len(n.Content) == 1 && n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Style == 0 {
		c := n.Content[0]
		unplace(c)
		return c
	}
	return scalar(s)
}

// mapping is a YAML mapping of keys and values, alternating.
func mapping(kv ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: kv}
}

func unplace(n *yaml.Node) {
	n.Line, n.Column = 0, 0
	for _, c := range n.Content {
		unplace(c)
	}
}
