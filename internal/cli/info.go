package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

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

func newValidateCmd(e *env) *cobra.Command {
	var inventories, extra []string
	var o outFlags
	cmd := &cobra.Command{
		Use:   "validate [flags] RUNBOOK...",
		Short: "check runbooks (and inventories) without contacting any host",
		Long: `Check runbooks, and inventories, without contacting any host: the YAML,
every module's parameters, templates, host patterns and variables. Each
runbook is checked against its inventory (-i, else its inventory:) as
apply would check it before it starts, when that inventory is a file.`,
		Example: `  runbook validate runbooks/site.yaml
  runbook validate -i inventory/hosts.yaml -e version=1.2 runbooks/*.yaml`,
		RunE: e.run(func(ctx context.Context, cmd *cobra.Command, args []string) int {
			return runValidate(ctx, e, cmd, &o, inventories, extra, args)
		}),
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringArrayVarP(&inventories, "inventory", "i", nil, "inventory `FILE`: checked, and the runbooks checked against it as apply would (repeatable; default: each runbook's inventory:)")
	fs.StringArrayVarP(&extra, "extra-vars", "e", nil, "extra variables (`VARS`), as apply takes them: key=value, a YAML/JSON mapping, or @file.yaml (repeatable)")
	fs.StringVar(&o.format, "output", "text", "`FORMAT`: text, or json (an event per file found valid and per problem)")
	cmd.ValidArgsFunction = runbookFiles(0)
	completeWith(cmd, inventoryFiles, "inventory")
	completeWith(cmd, formats("text", "json"), "output")
	return cmd
}

func runValidate(ctx context.Context, e *env, cmd *cobra.Command, o *outFlags, inventories, extra, pos []string) int {
	if len(pos) == 0 && len(inventories) == 0 {
		return e.usagef(cmd, "validate needs at least one runbook")
	}
	if err := o.check(); err != nil {
		return e.errorf("%v", err)
	}
	// note is what was left unchecked, if anything.
	valid := func(file, what, note string) {
		if o.format == "json" {
			output.NewJSON(e.stdout).Report(engine.Event{Type: engine.Valid, Time: time.Now(), File: file, Message: what + note})
			return
		}
		fmt.Fprintf(e.stdout, "%s: ok (%s)%s\n", file, what, note)
	}
	var errs decode.List
	var secrets secret.Set // what Check meets, hidden in its errors
	vars, err := tmpl.ParseExtraVars(extra)
	errs.Add(err)
	opened := map[string]inventory.Provider{}
	warned := map[string]bool{}
	for _, f := range inventories {
		if p := openOnce(opened, f, &errs); p != nil {
			valid(f, "inventory", "")
		}
	}
	for _, f := range pos {
		rb, err := runbook.Load(f)
		if err != nil {
			errs.Add(err)
			continue
		}
		invs := inventories
		if len(invs) == 0 {
			invs = rb.Inventory
		}
		inv, note, err := offlineInventory(ctx, opened, invs)
		if err != nil {
			errs.Add(err)
			continue
		}
		warnInventory(e, inv, warned)
		if err := engine.Check(rb, inv, engine.Options{ExtraVars: vars, Secrets: &secrets}); err != nil {
			errs.Add(err)
			continue
		}
		steps, files := count(rb, map[*runbook.Runbook]bool{})
		valid(f, fmt.Sprintf("%d steps in %d files", steps, files), note)
	}
	if err := errs.Err(); err != nil {
		return o.fail(e, err, secrets.Redact)
	}
	return ExitOK
}

// openOnce opens an inventory file once per validate, so a broken one is
// reported once however many runbooks use it.
func openOnce(opened map[string]inventory.Provider, file string, errs *decode.List) inventory.Provider {
	if p, ok := opened[file]; ok {
		return p
	}
	p, err := inventory.Open(file)
	errs.Add(err)
	opened[file] = p
	return p
}

// offlineInventory loads the inventories a runbook runs with, when that
// needs no network. When it would, or there is none, the inventory is nil
// and note says what is left to apply.
func offlineInventory(ctx context.Context, opened map[string]inventory.Provider, files []string) (*inventory.Inventory, string, error) {
	const unchecked = "; hosts and inventory variables not checked: "
	if len(files) == 0 {
		return nil, unchecked + "no inventory, give one with -i", nil
	}
	var errs decode.List
	var sources inventory.Sources
	for _, f := range files {
		p := openOnce(opened, f, &errs)
		if p == nil {
			continue
		}
		if o, ok := p.(inventory.Offline); !ok || !o.Offline() {
			return nil, unchecked + f + " is read from an API when the run starts", nil
		}
		sources = append(sources, p)
	}
	if err := errs.Err(); err != nil {
		return nil, "", err
	}
	inv, err := sources.Load(ctx)
	if err != nil {
		return nil, "", err
	}
	return inv, "", nil
}

func count(rb *runbook.Runbook, seen map[*runbook.Runbook]bool) (steps, files int) {
	if !seen[rb] {
		files = 1
	}
	seen[rb] = true
	for _, s := range runbook.TaskSteps(rb.Steps) {
		if s.Import != nil {
			n, f := count(s.Import, seen)
			steps, files = steps+n, files+f
			continue
		}
		steps++
	}
	return steps + len(rb.Handlers), files
}

type hostView struct {
	Address    string         `json:"address"`
	Port       int            `json:"port,omitempty"`
	User       string         `json:"user,omitempty"`
	Connection string         `json:"connection,omitempty"`
	Groups     []string       `json:"groups"`
	Vars       map[string]any `json:"vars"`
}

type inventoryView struct {
	Hosts  map[string]hostView `json:"hosts"`
	Groups map[string][]string `json:"groups"`
}

func newInventoryCmd(e *env) *cobra.Command {
	var inventories []string
	var format string
	cmd := &cobra.Command{
		Use:   "inventory -i INVENTORY... [flags]",
		Short: "show hosts, groups and variables as resolved",
		Example: `  runbook inventory -i inventory/hosts.yaml
  runbook inventory -i inventory/ --output json`,
		RunE: e.run(func(ctx context.Context, cmd *cobra.Command, args []string) int {
			return runInventory(ctx, e, cmd, inventories, format, args)
		}),
	}
	fs := cmd.Flags()
	fs.SortFlags = false
	fs.StringArrayVarP(&inventories, "inventory", "i", nil, "inventory: a `FILE` (runbook's, or Ansible's INI or YAML) or a directory of them (repeatable)")
	fs.StringVar(&format, "output", "text", "`FORMAT`: text or json")
	completeWith(cmd, inventoryFiles, "inventory")
	completeWith(cmd, formats("text", "json"), "output")
	cmd.ValidArgsFunction = cobra.NoFileCompletions
	return cmd
}

func runInventory(ctx context.Context, e *env, cmd *cobra.Command, inventories []string, format string, args []string) int {
	if len(args) > 0 {
		return e.usagef(cmd, "inventory takes no arguments, got %q: give inventories with -i", args[0])
	}
	if len(inventories) == 0 {
		return e.usagef(cmd, "inventory needs -i FILE")
	}
	sources, err := openInventories(inventories)
	if err != nil {
		return e.errorf("%v", err)
	}
	inv, err := sources.Load(ctx)
	if err != nil {
		return e.errorf("load inventory: %v", err)
	}
	warnInventory(e, inv, map[string]bool{})
	view := inventoryView{Hosts: map[string]hostView{}, Groups: inv.GroupMembers()}
	// Every host's variables are resolved before any is shown: what one
	// host derives from a secret is hidden on all of them.
	var secrets secret.Set
	resolved, err := engine.InventoryVars(inv, tmpl.NewTaint(&secrets))
	if err != nil {
		return e.errorf("%s", secrets.Redact(err.Error()))
	}
	for _, h := range inv.Hosts() {
		shown := secrets.RedactValue(resolved[h.Name]).(map[string]any)
		view.Hosts[h.Name] = hostView{Address: h.Address, Port: h.Port, User: h.User, Connection: h.Connection,
			Groups: append([]string{}, inv.GroupsOf(h.Name)...), Vars: shown}
	}
	switch format {
	case "json":
		b, err := json.MarshalIndent(view, "", "  ")
		if err != nil {
			return e.errorf("inventory as JSON: %v", err)
		}
		_, _ = e.stdout.Write(append(output.EscapeJSON(b), '\n'))
	case "text":
		printInventory(e.stdout, view, inv)
	default:
		return e.errorf("--output must be text or json, got %q", format)
	}
	return ExitOK
}

func printInventory(w io.Writer, v inventoryView, inv *inventory.Inventory) {
	fmt.Fprintln(w, "HOSTS")
	for _, h := range inv.Hosts() {
		hv := v.Hosts[h.Name]
		addr := hv.Address
		if hv.Connection == "local" {
			addr = "local connection"
		} else {
			if hv.User != "" {
				addr = hv.User + "@" + addr
			}
			if hv.Port != 0 {
				addr = fmt.Sprintf("%s:%d", addr, hv.Port)
			}
		}
		// Names and addresses may come from a provider's API: escaped.
		fmt.Fprintf(w, "  %s  %s  groups: %s\n", output.EscapeLine(h.Name), output.EscapeLine(addr), output.EscapeLine(strings.Join(hv.Groups, ", ")))
		for _, k := range slices.Sorted(maps.Keys(hv.Vars)) {
			b, _ := yaml.Marshal(hv.Vars[k])
			fmt.Fprintf(w, "      %s: %s\n", output.EscapeLine(k), output.Escape(strings.TrimSpace(string(b))))
		}
	}
	fmt.Fprintln(w, "GROUPS")
	for _, g := range slices.Sorted(maps.Keys(v.Groups)) {
		fmt.Fprintf(w, "  %s: %s\n", output.EscapeLine(g), output.EscapeLine(strings.Join(v.Groups[g], ", ")))
	}
}

type moduleView struct {
	Name   string        `json:"name"`
	Doc    string        `json:"doc"`
	Params []tasks.Param `json:"params"`
}

func newTasksCmd(e *env) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "tasks [flags] [MODULE...]",
		Short: "list the task modules compiled in, with their parameters",
		RunE: e.run(func(_ context.Context, _ *cobra.Command, args []string) int {
			return runTasks(e, format, args)
		}),
	}
	cmd.Flags().StringVar(&format, "output", "text", "`FORMAT`: text, json, or markdown (the source of docs/tasks.md)")
	completeWith(cmd, formats("text", "json", "markdown"), "output")
	cmd.ValidArgsFunction = moduleNames
	return cmd
}

func runTasks(e *env, format string, names []string) int {
	if len(names) == 0 {
		names = tasks.Names()
	}
	var mods []moduleView
	for _, n := range names {
		m, ok := tasks.Lookup(n)
		if !ok {
			return e.errorf("unknown task %q%s", n, decode.Suggest(n, tasks.Names()))
		}
		mods = append(mods, moduleView{Name: m.Name, Doc: m.Doc, Params: m.Params()})
	}
	switch format {
	case "json":
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(mods)
	case "markdown":
		TasksMarkdown(e.stdout, mods)
	case "text":
		for i, m := range mods {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			fmt.Fprintf(e.stdout, "%s\n  %s\n", m.Name, m.Doc)
			for _, p := range m.Params {
				req := ""
				if p.Required {
					req = ", required"
				}
				fmt.Fprintf(e.stdout, "    %-10s (%s%s) %s\n", p.Name, p.Type, req, p.Doc)
			}
		}
	default:
		return e.errorf("--output must be text, json or markdown, got %q", format)
	}
	return ExitOK
}

// TasksMarkdown writes the task reference, docs/tasks.md.
func TasksMarkdown(w io.Writer, mods []moduleView) {
	fmt.Fprint(w, "# Task modules\n\nGenerated by `runbook tasks --output markdown`; a test keeps it in sync with the code.\n"+
		"Every step names one module with `task:` and gives its parameters under `with:`.\n")
	for _, m := range mods {
		fmt.Fprintf(w, "\n## %s\n\n%s\n\n| parameter | type | required | description |\n|---|---|---|---|\n", m.Name, m.Doc)
		for _, p := range m.Params {
			req := ""
			if p.Required {
				req = "yes"
			}
			fmt.Fprintf(w, "| `%s` | %s | %s | %s |\n", p.Name, p.Type, req, strings.ReplaceAll(p.Doc, "|", `\|`))
		}
	}
}
