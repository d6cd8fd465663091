package cli

import (
	"bytes"
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
	"github.com/runbookdev/runbook/internal/secret"
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
	Within     []withinView `json:"within,omitempty"`
	Tags       []string     `json:"tags"`
	Patterns   []string     `json:"patterns,omitempty"`
	Hosts      []string     `json:"hosts"`
	HostsKnown bool         `json:"hosts_known"`
	// HostsAtMost: the step runs on those of Hosts it is notified on
	// (a handler) or that fail in its block (a rescue step).
	HostsAtMost bool `json:"hosts_at_most,omitempty"`
	// RunOnce and DelegateTo say where the step's module runs for them.
	RunOnce    bool   `json:"run_once,omitempty"`
	DelegateTo string `json:"delegate_to,omitempty"`
	// MatchedAfter is where the step on the controller is after which
	// this step's hosts are matched, when they are not known before the run.
	MatchedAfter string `json:"matched_after,omitempty"`
	after        string // that step's name
}

// withinView is an import or a block a step is reached through.
type withinView struct {
	Kind   string `json:"kind"` // import, block, rescue or always
	Name   string `json:"name,omitempty"`
	Import string `json:"import,omitempty"`
	Pos    string `json:"pos"`
	// GroupHosts are the hosts of an import or block with hosts:, which
	// its steps are narrowed to.
	GroupHosts []string `json:"group_hosts,omitempty"`
	Serial     []string `json:"serial,omitempty"`
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
	// Host patterns may be rendered from secrets.
	var secrets secret.Set
	opts.Secrets = &secrets
	plan, err := engine.Plan(rb, inv, opts)
	if err != nil {
		return e.errorf("%s", secrets.Redact(err.Error()))
	}
	view := planView(rb, plan)
	var out bytes.Buffer
	if format == "json" {
		b, err := json.MarshalIndent(view, "", "  ")
		if err != nil {
			return e.errorf("list as JSON: %v", err)
		}
		out.Write(append(output.EscapeJSON(b), '\n'))
	} else {
		printPlan(&out, view, hosts, tasks)
	}
	_, _ = io.WriteString(e.stdout, secrets.Redact(out.String()))
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
		for _, w := range p.Within {
			wv := withinView{Kind: w.Part, Name: w.Step.Name, Pos: w.Step.Pos.String()}
			if w.Step.Import != nil {
				wv.Import = w.Step.Import.File
			}
			for _, h := range w.GroupHosts {
				wv.GroupHosts = append(wv.GroupHosts, h.Name)
			}
			if g := w.Step.Group; g != nil {
				for _, b := range g.Serial {
					wv.Serial = append(wv.Serial, batchText(b))
				}
			}
			s.Within = append(s.Within, wv)
			s.HostsAtMost = s.HostsAtMost || w.Part == "rescue"
		}
		s.HostsAtMost = s.HostsAtMost || p.Handler
		s.RunOnce, s.DelegateTo = p.Step.RunOnce, p.Step.DelegateTo
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
	var shown []withinView
	for _, s := range v.Steps {
		common := 0
		for common < len(shown) && common < len(s.Within) && shown[common].Kind == s.Within[common].Kind && shown[common].Pos == s.Within[common].Pos {
			common++
		}
		for i := common; i < len(s.Within); i++ {
			fmt.Fprintf(w, "%s%s\n", strings.Repeat("  ", i), withinLine(s.Within[i], hosts))
		}
		shown = s.Within
		indent := strings.Repeat("  ", len(s.Within))
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
			fmt.Fprintf(w, "%s    %s%s\n", indent, hostsLine(s), where(s))
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

// withinLine heads the steps of an import or a block.
func withinLine(wv withinView, hosts bool) string {
	one := output.EscapeLine
	name := ""
	if wv.Name != "" {
		name = " " + one(wv.Name)
	}
	var line string
	switch wv.Kind {
	case "import":
		if name != "" {
			name = " (" + one(wv.Name) + ")"
		}
		line = fmt.Sprintf("IMPORT %s%s %s", one(wv.Import), name, one(wv.Pos))
	case "block":
		line = fmt.Sprintf("BLOCK%s %s", name, one(wv.Pos))
	case "rescue":
		return fmt.Sprintf("RESCUE%s, on the hosts that fail in the block", name)
	default:
		return fmt.Sprintf("ALWAYS%s, on every host that entered the block", name)
	}
	var group []string
	if hosts && wv.GroupHosts != nil {
		group = append(group, fmt.Sprintf("hosts (%d): %s", len(wv.GroupHosts), one(strings.Join(wv.GroupHosts, ", "))))
	}
	if len(wv.Serial) > 0 {
		group = append(group, "serial: "+strings.Join(wv.Serial, ", "))
	}
	if len(group) > 0 {
		line += "  " + strings.Join(group, ", ")
	}
	return line
}

func batchText(b runbook.Batch) string {
	if b.N > 0 {
		return strconv.Itoa(b.N)
	}
	return strconv.FormatFloat(b.Percent, 'f', -1, 64) + "%"
}

func hostsLine(s stepView) string {
	one := output.EscapeLine
	switch {
	case !s.HostsKnown && s.MatchedAfter != "":
		return fmt.Sprintf("hosts %s: not known before the run: matched when reached, as step %s (%s) runs on the controller before it and may change the inventory",
			patterns(s.Patterns), one(strconv.Quote(s.after)), one(s.MatchedAfter))
	case !s.HostsKnown:
		return "hosts: not known before the run: those notified"
	}
	list := "none"
	if len(s.Hosts) > 0 {
		list = one(strings.Join(s.Hosts, ", "))
	}
	switch {
	case s.Handler:
		return fmt.Sprintf("hosts (at most %d, those notified): %s", len(s.Hosts), list)
	case s.HostsAtMost:
		return fmt.Sprintf("hosts %s (at most %d, those that fail in the block): %s", patterns(s.Patterns), len(s.Hosts), list)
	}
	return fmt.Sprintf("hosts %s (%d): %s", patterns(s.Patterns), len(s.Hosts), list)
}

// where says where the module of a run_once or delegated step runs.
func where(s stepView) string {
	var out string
	if s.RunOnce {
		out += "; runs once per batch, on its first host, for all of them"
	}
	if s.DelegateTo != "" {
		out += "; its module runs on " + output.EscapeLine(strconv.Quote(s.DelegateTo)) + " on their behalf"
	}
	return out
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
