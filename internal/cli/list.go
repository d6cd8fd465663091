package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/output"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/inventory"
)

// listView is what --list-hosts and --list-tasks print as JSON.
type listView struct {
	Runbook string     `json:"runbook"`
	Steps   []stepView `json:"steps"`
	// Hosts is every host a step runs on (or a handler may), in the order
	// first reached; HostsKnown is false when some step's are not known
	// before the run.
	Hosts      []string `json:"hosts"`
	HostsKnown bool     `json:"hosts_known"`
}

type stepView struct {
	Step       string       `json:"step"`
	Task       string       `json:"task"`
	Pos        string       `json:"pos"`
	Handler    bool         `json:"handler,omitempty"`
	Imports    []importView `json:"imports,omitempty"`
	Tags       []string     `json:"tags"`
	Patterns   []string     `json:"patterns,omitempty"`
	Hosts      []string     `json:"hosts"`
	HostsKnown bool         `json:"hosts_known"`
	// MatchedAfter is where the step on the controller is after which
	// this step's hosts are matched, when they are not known before the run.
	MatchedAfter string `json:"matched_after,omitempty"`
	after        string // that step's name
}

type importView struct {
	Import string `json:"import"`
	Name   string `json:"name,omitempty"`
	Pos    string `json:"pos"`
}

// listRun prints what a run would do, step by step: the hosts each runs
// on, the tasks with their tags, or both. It contacts no host and takes
// no lock.
func listRun(ctx context.Context, e *env, rb *runbook.Runbook, sources inventory.Sources, opts engine.Options, hosts, tasks bool, format string) int {
	inv, err := sources.Load(ctx)
	if err != nil {
		return e.errorf("load inventory: %v", err)
	}
	warnInventory(e, inv, map[string]bool{})
	plan, err := engine.Plan(rb, inv, opts)
	if err != nil {
		return e.errorf("%v", err)
	}
	view := planView(rb, plan)
	if format == "json" {
		b, err := json.MarshalIndent(view, "", "  ")
		if err != nil {
			return e.errorf("list as JSON: %v", err)
		}
		_, _ = e.stdout.Write(append(output.EscapeJSON(b), '\n'))
		return ExitOK
	}
	printPlan(e.stdout, view, hosts, tasks)
	return ExitOK
}

func planView(rb *runbook.Runbook, plan []engine.Planned) listView {
	v := listView{Runbook: rb.File, Steps: []stepView{}, Hosts: []string{}, HostsKnown: true}
	for _, p := range plan {
		s := stepView{Step: p.Step.Title(), Task: p.Step.Module.Name, Pos: p.Step.Pos.String(), Handler: p.Handler,
			Tags: p.Tags, Hosts: []string{}, HostsKnown: p.Known}
		if s.Tags == nil || p.Handler {
			// Handlers run when notified, whatever --tags says.
			s.Tags = []string{}
		}
		s.Patterns = p.Patterns
		for _, imp := range p.Imports {
			s.Imports = append(s.Imports, importView{Import: imp.Import.File, Name: imp.Name, Pos: imp.Pos.String()})
		}
		for _, h := range p.Hosts {
			s.Hosts = append(s.Hosts, h.Name)
			if !slices.Contains(v.Hosts, h.Name) {
				v.Hosts = append(v.Hosts, h.Name)
			}
		}
		if !p.Known {
			v.HostsKnown = false
			if p.After != nil {
				s.MatchedAfter, s.after = p.After.Pos.String(), p.After.Title()
			}
		}
		v.Steps = append(v.Steps, s)
	}
	return v
}

// printPlan writes the plan as the run's own output names steps: STEP
// and HANDLER lines, indented under the imports they come through.
func printPlan(w io.Writer, v listView, hosts, tasks bool) {
	one := output.EscapeLine
	fmt.Fprintf(w, "RUNBOOK %s\n\n", one(v.Runbook))
	var shown []importView
	for _, s := range v.Steps {
		common := 0
		for common < len(shown) && common < len(s.Imports) && shown[common] == s.Imports[common] {
			common++
		}
		for i := common; i < len(s.Imports); i++ {
			imp := s.Imports[i]
			name := ""
			if imp.Name != "" {
				name = " (" + one(imp.Name) + ")"
			}
			fmt.Fprintf(w, "%sIMPORT %s%s %s\n", strings.Repeat("  ", i), one(imp.Import), name, one(imp.Pos))
		}
		shown = s.Imports
		indent := strings.Repeat("  ", len(s.Imports))
		kind := "STEP"
		if s.Handler {
			kind = "HANDLER"
		}
		tags := ""
		if tasks && len(s.Tags) > 0 {
			tags = "  TAGS: [" + one(strings.Join(s.Tags, ", ")) + "]"
		}
		fmt.Fprintf(w, "%s%s %s [%s] %s%s\n", indent, kind, one(s.Step), one(s.Task), one(s.Pos), tags)
		if hosts {
			fmt.Fprintf(w, "%s    %s\n", indent, hostsLine(s))
		}
	}
	if !hosts {
		return
	}
	total := fmt.Sprintf("%d", len(v.Hosts))
	if !v.HostsKnown {
		total = fmt.Sprintf("%d known before the run", len(v.Hosts))
	}
	fmt.Fprintf(w, "\nHOSTS (%s)\n", total)
	for _, h := range v.Hosts {
		fmt.Fprintf(w, "  %s\n", one(h))
	}
}

func hostsLine(s stepView) string {
	one := output.EscapeLine
	switch {
	case !s.HostsKnown && s.MatchedAfter != "":
		return fmt.Sprintf("hosts %s: not known before the run: matched when reached, as step %s (%s) runs on the controller before it and may change the inventory",
			patterns(s.Patterns), one(strconv.Quote(s.after)), one(s.MatchedAfter))
	case !s.HostsKnown:
		return "hosts: not known before the run: those notified"
	case s.Handler:
		return fmt.Sprintf("hosts (at most %d, those notified): %s", len(s.Hosts), one(strings.Join(s.Hosts, ", ")))
	}
	return fmt.Sprintf("hosts %s (%d): %s", patterns(s.Patterns), len(s.Hosts), one(strings.Join(s.Hosts, ", ")))
}

func patterns(list []string) string {
	q := make([]string, len(list))
	for i, p := range list {
		q[i] = output.EscapeLine(strconv.Quote(p))
	}
	return strings.Join(q, ", ")
}

// warnInventory prints, once each, what loading inv found odd but not
// wrong. Names in it may come from a provider's API: escaped.
func warnInventory(e *env, inv *inventory.Inventory, seen map[string]bool) {
	if inv == nil {
		return
	}
	for _, w := range inv.Warnings() {
		if msg := w.Error(); !seen[msg] {
			seen[msg] = true
			fmt.Fprintf(e.stderr, "runbook: warning: %s\n", output.EscapeLine(msg))
		}
	}
}
