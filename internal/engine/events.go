package engine

import (
	"strings"
	"sync"
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
	HostResult = "host_result"
	Retry      = "retry"
	Progress   = "progress"
	Warning    = "warning"
	Recap      = "recap"
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
	Changes  []string          `json:"changes,omitempty"`
	Diff     string            `json:"diff,omitempty"`
	Message  string            `json:"message,omitempty"`
	Attempt  int               `json:"attempt,omitempty"`
	Duration float64           `json:"duration_ms,omitempty"`
	Recap    map[string]*Stats `json:"recap,omitempty"`
	Elapsed  float64           `json:"elapsed_ms,omitempty"`
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

// redactor hides secret values in everything reported.
type redactor struct {
	mu      sync.Mutex
	secrets map[string]bool
	r       *strings.Replacer
}

const mask = "********"

func (r *redactor) add(values ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range values {
		if v == "" || r.secrets[v] {
			continue
		}
		if r.secrets == nil {
			r.secrets = map[string]bool{}
		}
		r.secrets[v] = true
		r.r = nil
	}
}

func (r *redactor) apply(s string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.secrets) == 0 || s == "" {
		return s
	}
	if r.r == nil {
		// Longer secrets first, so one that contains another is hidden whole.
		var pairs []string
		for v := range r.secrets {
			pairs = append(pairs, v)
		}
		sortByLenDesc(pairs)
		var args []string
		for _, v := range pairs {
			args = append(args, v, mask)
		}
		r.r = strings.NewReplacer(args...)
	}
	return r.r.Replace(s)
}

func (r *redactor) event(ev Event) Event {
	ev.Message = r.apply(ev.Message)
	ev.Diff = r.apply(ev.Diff)
	if len(ev.Changes) > 0 {
		c := make([]string, len(ev.Changes))
		for i, s := range ev.Changes {
			c[i] = r.apply(s)
		}
		ev.Changes = c
	}
	return ev
}

func sortByLenDesc(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && (len(s[j]) > len(s[j-1]) || len(s[j]) == len(s[j-1]) && s[j] < s[j-1]); j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}
