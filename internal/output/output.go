// Package output shows a run's events to people (text) and to programs
// (one JSON object per line).
package output

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/runbookdev/runbook/internal/engine"
)

// JSON writes each event as one line of JSON.
type JSON struct{ w io.Writer }

// NewJSON returns a JSON reporter writing to w.
func NewJSON(w io.Writer) *JSON { return &JSON{w: w} }

// Report writes ev.
func (j *JSON) Report(ev engine.Event) {
	b, err := json.Marshal(ev)
	if err != nil {
		return
	}
	_, _ = j.w.Write(append(EscapeJSON(b), '\n'))
}

// Text writes a line per host and step as results arrive, and a recap.
type Text struct {
	// ShowOutput shows what each step's command printed under its
	// host's line (-v).
	ShowOutput bool

	w     io.Writer
	color bool
	live  bool // redraw a progress line: w is a terminal

	step        string
	total, done int
	progress    bool // a progress line is on screen
}

// NewText returns a text reporter. On a terminal it colours statuses and
// keeps a progress line under the results.
func NewText(w io.Writer) *Text {
	tty := isTerminal(w)
	return &Text{w: w, color: tty && os.Getenv("NO_COLOR") == "", live: tty}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

const (
	red    = "\033[31m"
	green  = "\033[32m"
	yellow = "\033[33m"
	cyan   = "\033[36m"
	bold   = "\033[1m"
	reset  = "\033[0m"
)

func (t *Text) paint(color, s string) string {
	if !t.color {
		return s
	}
	return color + s + reset
}

// Report writes ev. Everything in it may come from a host, so all of it
// is escaped on the way to the terminal; newlines in messages and diffs
// start indented lines, so a host cannot print what looks like a result.
func (t *Text) Report(ev engine.Event) {
	t.clearProgress()
	one := EscapeLine
	switch ev.Type {
	case engine.RunStart:
		mode := ""
		if ev.Check {
			mode = " (check mode: nothing will be changed)"
		}
		fmt.Fprintf(t.w, "%s %s%s\n", t.paint(bold, "RUN"), one(ev.Runbook), mode)
	case engine.StepStart:
		kind := "STEP"
		if ev.Handler {
			kind = "HANDLER"
		}
		item := ""
		if ev.Item != "" {
			item = " (item=" + one(ev.Item) + ")"
		}
		fmt.Fprintf(t.w, "\n%s %s [%s] %s, %s%s\n", t.paint(bold, kind), one(ev.Step), one(ev.Task), one(ev.Pos), plural(ev.Hosts, "host"), item)
		t.step, t.total, t.done = one(ev.Step), ev.Hosts, 0
	case engine.BatchStart:
		fmt.Fprintf(t.w, "\n%s %d of %s %s: %s\n", t.paint(bold, "BATCH"), ev.Batch, one(ev.Step), one(ev.Pos), one(ev.Message))
	case engine.HostResult:
		t.done++
		t.result(ev)
	case engine.ItemResult:
		t.result(ev)
	case engine.Retry:
		t.block(fmt.Sprintf("  %-12s %s  attempt %d: ", t.paint(yellow, "retrying"), one(ev.Host), ev.Attempt), ev.Message)
	case engine.Progress:
		t.block(fmt.Sprintf("  %-12s %s  ", t.paint(cyan, "…"), one(ev.Host)), ev.Message)
	case engine.Warning:
		t.block(fmt.Sprintf("%s %s: ", t.paint(yellow, "WARNING"), one(ev.Pos)), ev.Message)
	case engine.Recap:
		t.recap(ev)
		return
	}
	t.drawProgress()
}

// block writes head and the lines of msg, escaped, the first after head
// and the others indented under it.
func (t *Text) block(head string, msg ...string) {
	lines := textLines(msg...)
	first := ""
	if len(lines) > 0 {
		first, lines = lines[0], lines[1:]
	}
	fmt.Fprintf(t.w, "%s%s\n", head, first)
	for _, l := range lines {
		fmt.Fprintf(t.w, "  %-12s %s\n", "", l)
	}
}

// textLines splits texts into escaped lines; a text's last newline ends
// its last line rather than starting an empty one.
func textLines(texts ...string) []string {
	var out []string
	for _, s := range texts {
		if s == "" {
			continue
		}
		for _, l := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
			out = append(out, Escape(l))
		}
	}
	return out
}

func (t *Text) result(ev engine.Event) {
	label, color := string(ev.Status), green
	switch ev.Status {
	case engine.Changed:
		color = yellow
		if ev.Check {
			label = "would change"
		}
	case engine.Failed:
		color = red
		if ev.Ignored {
			label, color = "failed (ignored)", yellow
		}
	case engine.Unreachable:
		color = red
	case engine.Skipped:
		color = cyan
	}
	head := fmt.Sprintf("  %s %s  %s  ", t.paint(color, fmt.Sprintf("%-12s", EscapeLine(label))), who(ev), dur(ev.Duration))
	t.block(head, append(append([]string{}, ev.Changes...), ev.Message)...)
	if t.ShowOutput {
		t.output("stdout", ev.Stdout)
		t.output("stderr", ev.Stderr)
		if ev.RC != nil && *ev.RC != 0 {
			fmt.Fprintf(t.w, "      rc: %d\n", *ev.RC)
		}
	}
	for _, l := range textLines(ev.Diff) {
		switch {
		case strings.HasPrefix(l, "+") && !strings.HasPrefix(l, "+++"):
			l = t.paint(green, l)
		case strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "---"):
			l = t.paint(red, l)
		}
		fmt.Fprintf(t.w, "      %s\n", l)
	}
}

// output writes what a command printed on one of its streams, escaped:
// on the name's line when it is one line, else indented under it.
func (t *Text) output(name, text string) {
	lines := textLines(text)
	switch len(lines) {
	case 0:
	case 1:
		fmt.Fprintf(t.w, "      %s: %s\n", name, lines[0])
	default:
		fmt.Fprintf(t.w, "      %s:\n", name)
		for _, l := range lines {
			fmt.Fprintf(t.w, "        %s\n", l)
		}
	}
}

// who names the host of a result, and where the step ran for it:
// "h1 -> h2" (delegate_to), "h2 (run once on h1)", "h1 (item=alice)",
// "h1 (3 items)".
func who(ev engine.Event) string {
	s := EscapeLine(ev.Host)
	if ev.DelegateTo != "" {
		s += " -> " + EscapeLine(ev.DelegateTo)
	}
	switch {
	case ev.Type == engine.ItemResult:
		s += " (item=" + EscapeLine(ev.Item) + ")"
	case ev.Items > 0:
		s += fmt.Sprintf(" (%s)", plural(ev.Items, "item"))
	}
	if ev.RunOnce != "" {
		s += " (run once on " + EscapeLine(ev.RunOnce) + ")"
	}
	return s
}

func (t *Text) recap(ev engine.Event) {
	fmt.Fprintf(t.w, "\n%s\n", t.paint(bold, "RECAP"))
	names := slices.Sorted(maps.Keys(ev.Recap))
	width := 4
	for _, n := range names {
		width = max(width, len(EscapeLine(n)))
	}
	var changed, failed int
	for _, n := range names {
		s := ev.Recap[n]
		color := green
		switch {
		case s.Failed > 0 || s.Unreachable > 0:
			color, failed = red, failed+1
		case s.Changed > 0:
			color, changed = yellow, changed+1
		}
		fmt.Fprintf(t.w, "  %s  ok=%-4d changed=%-4d failed=%-4d skipped=%-4d unreachable=%-4d rescued=%-4d ignored=%d\n",
			t.paint(color, fmt.Sprintf("%-*s", width, EscapeLine(n))), s.OK, s.Changed, s.Failed, s.Skipped, s.Unreachable, s.Rescued, s.Ignored)
	}
	verdict := fmt.Sprintf("%s, %d changed, %d failed or unreachable", plural(len(names), "host"), changed, failed)
	if ev.Check {
		verdict = fmt.Sprintf("%s, %d drifted (would change), %d failed or unreachable", plural(len(names), "host"), changed, failed)
	}
	fmt.Fprintf(t.w, "  %s in %s\n", verdict, strings.TrimSpace(dur(ev.Elapsed)))
	if ev.Message != "" {
		t.block(t.paint(red, "STOPPED")+" ", ev.Message)
	}
}

func (t *Text) drawProgress() {
	if !t.live || t.total == 0 || t.done >= t.total {
		return
	}
	fmt.Fprintf(t.w, "  … %s: %d/%d hosts done", t.step, t.done, t.total)
	t.progress = true
}

func (t *Text) clearProgress() {
	if t.progress {
		fmt.Fprint(t.w, "\r\033[K")
		t.progress = false
	}
}

func dur(msec float64) string {
	d := time.Duration(msec * float64(time.Millisecond))
	switch {
	case d < time.Second:
		return fmt.Sprintf("%5dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%5.1fs", d.Seconds())
	}
	return d.Round(time.Second).String()
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
