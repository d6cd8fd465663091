package engine

import (
	"strings"
	"time"
)

// Status is how one step ended on one host.
type Status string

const (
	OK          Status = "ok"
	Changed     Status = "changed"
	Failed      Status = "failed"
	Skipped     Status = "skipped"
	Unreachable Status = "unreachable"
)

// Event types, in the order a run emits them.
const (
	RunStart   = "run_start"
	StepStart  = "step_start"
	BatchStart = "batch_start" // a batch of a block or an import with serial
	HostResult = "host_result"
	ItemResult = "item_result" // one item of a step's loop on one host, before the host's result
	Retry      = "retry"
	Progress   = "progress"
	Warning    = "warning"
	Recap      = "recap"

	// Before a run, or instead of one: a problem that stops the command
	// (a runbook, inventory or -e that cannot be used), and a file that
	// `runbook validate` found valid.
	Error = "error"
	Valid = "valid"
)

// Event is one thing that happened in a run. Its JSON form is runbook's
// machine-readable output (`--output json`): field names are stable.
type Event struct {
	Type     string            `json:"type"`
	Time     time.Time         `json:"time"`
	Check    bool              `json:"check,omitempty"`
	Runbook  string            `json:"runbook,omitempty"`
	Step     string            `json:"step,omitempty"`
	Task     string            `json:"task,omitempty"`
	Pos      string            `json:"pos,omitempty"`
	Handler  bool              `json:"handler,omitempty"`
	Hosts    int               `json:"hosts,omitempty"`
	Host     string            `json:"host,omitempty"`
	Status   Status            `json:"status,omitempty"`
	Ignored  bool              `json:"ignored,omitempty"`
	Unknown  bool              `json:"unknown,omitempty"`
	Changes  []string          `json:"changes,omitempty"`
	Diff     string            `json:"diff,omitempty"`
	Message  string            `json:"message,omitempty"`
	Attempt  int               `json:"attempt,omitempty"`
	Batch    int               `json:"batch,omitempty"` // batch_start: its number, from 1
	Duration float64           `json:"duration_ms,omitempty"`
	Recap    map[string]*Stats `json:"recap,omitempty"`
	Elapsed  float64           `json:"elapsed_ms,omitempty"`

	// Item names the loop item an item_result is for, or for step_start
	// the items of the looping imports the step is in; Items is how many
	// items a looping step's host_result sums up.
	Item  string `json:"item,omitempty"`
	Items int    `json:"items,omitempty"`
	// DelegateTo is the host the step's module ran against on behalf of
	// Host; RunOnce, the host that ran a run_once step for Host.
	DelegateTo string `json:"delegate_to,omitempty"`
	RunOnce    string `json:"run_once,omitempty"`

	// Stdout, Stderr and RC are what the command a step's module ran
	// printed and its exit code, as the module registered them (command
	// does), on host_result and item_result.
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	RC     *int   `json:"rc,omitempty"`

	// File, Line and Col are where an error is, when that is known, or
	// the file a valid event is about.
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	Col  int    `json:"col,omitempty"`
}

// Stats counts a host's results, like Ansible's PLAY RECAP: ok counts
// every step that succeeded, changed or not.
type Stats struct {
	OK          int `json:"ok"`
	Changed     int `json:"changed"`
	Failed      int `json:"failed"`
	Skipped     int `json:"skipped"`
	Unreachable int `json:"unreachable"`
	Ignored     int `json:"ignored"`
	// Rescued counts blocks whose rescue steps saw the host through a
	// failure: that failure is not counted in Failed.
	Rescued int `json:"rescued"`
	// Commands counts the commands runbook ran on the host over SSH:
	// probes, changes, handlers, facts; file transfers are not counted.
	Commands int `json:"commands"`
}

func (s *Stats) add(st Status, ignored bool) {
	switch st {
	case OK:
		s.OK++
	case Changed:
		s.OK++
		s.Changed++
	case Failed:
		if ignored {
			s.Ignored++
		} else {
			s.Failed++
		}
	case Skipped:
		s.Skipped++
	case Unreachable:
		s.Unreachable++
	}
}

// Reporter receives a run's events, one at a time.
type Reporter interface {
	Report(Event)
}

// hiddenDiff stands for a diff that would show a secret. The whole diff is
// hidden, not only the secret's text: its other lines may hold what runbook
// cannot know is secret, such as the old value of a rotated secret.
const hiddenDiff = "(content hidden: it holds a secret)"

// redact hides secrets in what ev reports.
func (e *Engine) redact(ev Event) Event {
	if ev.Diff != "" && e.secrets.Holds(ev.Diff) {
		ev.Diff = hideDiff(ev.Diff)
	}
	ev.Message = e.secrets.Redact(ev.Message)
	ev.Item = e.secrets.Redact(ev.Item)
	ev.Diff = e.secrets.Redact(ev.Diff)
	ev.Stdout = e.secrets.Redact(ev.Stdout)
	ev.Stderr = e.secrets.Redact(ev.Stderr)
	if len(ev.Changes) > 0 {
		c := make([]string, len(ev.Changes))
		for i, s := range ev.Changes {
			c[i] = e.secrets.Redact(s)
		}
		ev.Changes = c
	}
	return ev
}

// hiddenOutput stands for what a command printed in a step that read a
// secret: all of it is treated as secret (see secretstep.go).
const hiddenOutput = "(hidden: the step read a secret)"

// commandOutput puts in ev what the command of r's step printed, and its
// exit code, as its module registered them.
func commandOutput(ev *Event, r *result) {
	stdout, _ := r.data["stdout"].(string)
	stderr, _ := r.data["stderr"].(string)
	if rc, ok := r.data["rc"].(int); ok {
		ev.RC = &rc
	}
	if r.secret {
		if stdout != "" {
			stdout = hiddenOutput
		}
		if stderr != "" {
			stderr = hiddenOutput
		}
	}
	ev.Stdout, ev.Stderr = stdout, stderr
}

// hideDiff keeps a diff's header, which names the file, and hides the rest.
func hideDiff(d string) string {
	var out strings.Builder
	for _, l := range strings.SplitAfter(d, "\n") {
		if !strings.HasPrefix(l, "--- ") && !strings.HasPrefix(l, "+++ ") {
			break
		}
		out.WriteString(l)
	}
	out.WriteString(hiddenDiff + "\n")
	return out.String()
}
