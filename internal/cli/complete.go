package cli

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/inventory"
	"github.com/runbookdev/runbook/tasks"
	"github.com/spf13/cobra"
)

// Shell completion (`runbook completion bash|zsh|fish`, then cobra's
// __complete): files where a command takes files, and what the
// inventories and runbooks on the command line name where it takes names.
// Completing reads only local files: an inventory read from an API is
// not asked (a keystroke would wait on it and spend its rate limit).

type completer = func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective)

// runbookFiles completes runbook files, up to max of them (0: any number).
func runbookFiles(max int) completer {
	return func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if max > 0 && len(args) >= max {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return []cobra.Completion{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
	}
}

// inventoryFiles completes -i: runbook's YAML inventories, Ansible's INI
// ones, and directories of them.
func inventoryFiles(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
	return []cobra.Completion{"yaml", "yml", "ini"}, cobra.ShellCompDirectiveFilterFileExt
}

// hostPatterns completes a host pattern with the hosts and groups of the
// inventories: -i's, else those of the runbook among args (apply's).
// Terms are completed after the last separator: web,d -> web,db.
func hostPatterns(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	files, _ := cmd.Flags().GetStringArray("inventory")
	// Cobra parses the flags twice when completing: each -i is there twice.
	files = unique(files)
	if len(files) == 0 && cmd.Name() == "apply" && len(args) > 0 {
		if rb, err := runbook.Load(args[0]); err == nil {
			files = rb.Inventory
		}
	}
	inv, _, err := offlineInventory(context.Background(), map[string]inventory.Provider{}, files)
	if err != nil || inv == nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	names := []string{"all"}
	for _, h := range inv.Hosts() {
		names = append(names, h.Name)
	}
	names = append(names, slices.Collect(maps.Keys(inv.GroupMembers()))...)
	return lastTerm(toComplete, ",:&!", names), cobra.ShellCompDirectiveNoFileComp
}

// tagNames completes --tags and --skip-tags with the tags of the runbook
// among args, its imports', blocks' and handlers' included.
func tagNames(_ *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(args) == 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	rb, err := runbook.Load(args[0])
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	tags := map[string]bool{}
	seen := map[*runbook.Runbook]bool{}
	var walk func(steps []*runbook.Step)
	walk = func(steps []*runbook.Step) {
		for _, s := range steps {
			for _, t := range s.Tags {
				tags[t] = true
			}
			walk(s.Block)
			walk(s.Rescue)
			walk(s.Always)
			if s.Import != nil && !seen[s.Import] {
				seen[s.Import] = true
				walk(s.Import.Steps)
				walk(s.Import.Handlers)
			}
		}
	}
	walk(rb.Steps)
	walk(rb.Handlers)
	return lastTerm(toComplete, ",", slices.Collect(maps.Keys(tags))), cobra.ShellCompDirectiveNoFileComp
}

// moduleNames completes -m with the modules compiled in.
func moduleNames(_ *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	var out []cobra.Completion
	for _, n := range tasks.Names() {
		if m, ok := tasks.Lookup(n); ok && strings.HasPrefix(n, toComplete) {
			doc, _, _ := strings.Cut(m.Doc, ". ")
			out = append(out, cobra.CompletionWithDesc(n, doc))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// lastTerm completes the part of toComplete after the last of seps with
// names, keeping what comes before it; sorted, each once.
func lastTerm(toComplete, seps string, names []string) []cobra.Completion {
	head, term := "", toComplete
	if i := strings.LastIndexAny(toComplete, seps); i >= 0 {
		head, term = toComplete[:i+1], toComplete[i+1:]
	}
	var out []cobra.Completion
	for _, n := range names {
		if strings.HasPrefix(n, term) {
			out = append(out, head+n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// formats completes --output with what a command can print.
func formats(names ...string) completer {
	return func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}

func unique(list []string) []string {
	var out []string
	for _, s := range list {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// completeWith registers fn for each named flag of cmd.
func completeWith(cmd *cobra.Command, fn completer, flags ...string) {
	for _, f := range flags {
		if err := cmd.RegisterFlagCompletionFunc(f, fn); err != nil {
			panic(err) // a flag named here and never defined: a bug
		}
	}
}
