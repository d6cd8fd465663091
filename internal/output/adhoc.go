package output

import (
	"cmp"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/engine"
)

// AdHoc shows the results of `runbook run`, once every host is done: what
// each host's command printed, hosts that printed the same together
// (named when they are few, counted when many), largest group first; and
// each failure on its own, with its exit code.
type AdHoc struct {
	w       io.Writer
	color   bool
	live    bool // a progress line is kept while hosts work: w is a terminal
	results []engine.Event
	total   int
	drawn   bool
}

// NewAdHoc returns an ad-hoc reporter writing to w.
func NewAdHoc(w io.Writer) *AdHoc {
	tty := isTerminal(w)
	return &AdHoc{w: w, color: tty && os.Getenv("NO_COLOR") == "", live: tty}
}

// namedUpTo is how many hosts a group names; a larger one is counted.
const namedUpTo = 5

// Report collects results, says at once what cannot wait (a run lock
// waited on, a warning), and shows the results with the recap.
func (a *AdHoc) Report(ev engine.Event) {
	if a.drawn {
		fmt.Fprint(a.w, "\r\033[K")
		a.drawn = false
	}
	switch ev.Type {
	case engine.StepStart:
		a.total = ev.Hosts
	case engine.HostResult:
		a.results = append(a.results, ev)
		if a.live && len(a.results) < a.total {
			// Results are shown once all are in: until then, how many.
			fmt.Fprintf(a.w, "… %d/%d hosts done", len(a.results), a.total)
			a.drawn = true
		}
	case engine.Progress:
		if ev.Host == "" {
			a.block("… ", ev.Message)
		}
	case engine.Warning:
		a.block(a.paint(yellow, "WARNING")+" ", ev.Message)
	case engine.Recap:
		a.show(ev)
	}
}

func (a *AdHoc) paint(color, s string) string {
	if !a.color {
		return s
	}
	return color + s + reset
}

// block writes head and lines: on head's line when there is one, else
// indented under it.
func (a *AdHoc) block(head string, texts ...string) {
	lines := textLines(texts...)
	if len(lines) == 1 {
		fmt.Fprintf(a.w, "%s%s\n", head, lines[0])
		return
	}
	fmt.Fprintln(a.w, strings.TrimSuffix(head, " "))
	for _, l := range lines {
		fmt.Fprintf(a.w, "    %s\n", l)
	}
}

type adhocGroup struct {
	hosts []string
	body  []string
}

func (a *AdHoc) show(recap engine.Event) {
	var groups []*adhocGroup
	byBody := map[string]*adhocGroup{}
	var failed []engine.Event
	for _, ev := range a.results {
		if ev.Status == engine.Failed || ev.Status == engine.Unreachable {
			failed = append(failed, ev)
			continue
		}
		body := adhocBody(ev)
		key := strings.Join(body, "\x00")
		g := byBody[key]
		if g == nil {
			g = &adhocGroup{body: body}
			byBody[key] = g
			groups = append(groups, g)
		}
		g.hosts = append(g.hosts, ev.Host)
	}
	for _, g := range groups {
		slices.Sort(g.hosts)
	}
	slices.SortStableFunc(groups, func(x, y *adhocGroup) int {
		return cmp.Or(cmp.Compare(len(y.hosts), len(x.hosts)), cmp.Compare(x.hosts[0], y.hosts[0]))
	})
	for _, g := range groups {
		names := strings.Join(g.hosts, ", ")
		if len(g.hosts) > namedUpTo {
			names = plural(len(g.hosts), "host")
		}
		a.block(EscapeLine(names)+": ", g.body...)
	}
	slices.SortFunc(failed, func(x, y engine.Event) int { return cmp.Compare(x.Host, y.Host) })
	for _, ev := range failed {
		head := EscapeLine(ev.Host) + " " + a.paint(red, strings.ToUpper(string(ev.Status)))
		if ev.RC != nil {
			head += fmt.Sprintf(" rc=%d", *ev.RC)
		}
		body := outputLines(ev)
		if body == nil || ev.Status == engine.Unreachable {
			body = []string{ev.Message}
		}
		a.block(head+": ", body...)
	}
	a.recap(recap)
}

// adhocBody is what a host that did not fail shows: what its command
// printed, else what its module did.
func adhocBody(ev engine.Event) []string {
	if out := outputLines(ev); out != nil {
		return out
	}
	if ev.RC != nil {
		return []string{"(no output)"}
	}
	status := string(ev.Status)
	if ev.Status == engine.Changed && ev.Check {
		status = "would change"
	}
	var what []string
	for _, s := range append(slices.Clone(ev.Changes), ev.Message, ev.Diff) {
		if s != "" {
			what = append(what, s)
		}
	}
	if len(what) == 0 {
		return []string{status}
	}
	what[0] = status + ": " + what[0]
	return what
}

// outputLines are what ev's command printed, stderr's lines marked so;
// nil when it printed nothing.
func outputLines(ev engine.Event) []string {
	out := ev.Stdout
	if ev.Stderr != "" {
		for _, l := range strings.Split(strings.TrimSuffix(ev.Stderr, "\n"), "\n") {
			out += "\nstderr: " + l
		}
		out = strings.TrimPrefix(out, "\n")
	}
	if out == "" {
		return nil
	}
	return []string{out}
}

func (a *AdHoc) recap(ev engine.Event) {
	counts := map[string]int{}
	for _, s := range ev.Recap {
		switch {
		case s.Unreachable > 0:
			counts["unreachable"]++
		case s.Failed > 0:
			counts["failed"]++
		case s.Skipped > 0 && s.OK == 0:
			counts["skipped"]++
		default:
			counts["ok"]++
		}
	}
	var parts []string
	for _, k := range []string{"ok", "failed", "unreachable", "skipped"} {
		if counts[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[k], k))
		}
	}
	if len(parts) == 0 {
		parts = []string{"none ran"}
	}
	n := len(slices.Collect(maps.Keys(ev.Recap)))
	fmt.Fprintf(a.w, "\n%s: %s\n", plural(n, "host"), strings.Join(parts, ", "))
	if ev.Message != "" {
		a.block(a.paint(red, "STOPPED")+" ", ev.Message)
	}
}
