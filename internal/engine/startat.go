package engine

import (
	"fmt"
	"slices"
	"sync"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
)

// startAt skips the steps of a run that come before the first step named
// by --start-at-task. The run and Check each walk the runbook with their
// own, in the same order, so both skip the same steps.
type startAt struct {
	name     string
	eligible map[*runbook.Step]bool // the steps a run can start at
	mu       sync.Mutex
	found    bool
	// decided: whether each place a step is reached at (the step and the
	// imports it comes through) was skipped. A group in batches reaches
	// its steps once per batch: each batch skips what the first skipped.
	decided map[string]bool
}

func newStartAt(name string, rb *runbook.Runbook) *startAt {
	if name == "" {
		return nil
	}
	return &startAt{name: name, eligible: startable(rb), decided: map[string]bool{}}
}

// startable is every step a run can start at: through imports and blocks,
// not among handlers, nor a block's rescue or always steps, which run
// only after the block's own.
func startable(rb *runbook.Runbook) map[*runbook.Step]bool {
	out := map[*runbook.Step]bool{}
	seen := map[*runbook.Runbook]bool{}
	var walk func([]*runbook.Step)
	walk = func(steps []*runbook.Step) {
		for _, st := range steps {
			out[st] = true
			switch {
			case st.Import != nil && !seen[st.Import]:
				seen[st.Import] = true
				walk(st.Import.Steps)
			case st.IsBlock():
				walk(st.Block)
			}
		}
	}
	walk(rb.Steps)
	return out
}

// skip reports whether st, reached in scope sc, comes before the start.
// An import or a block is entered, as the start may be among its steps;
// naming one starts at its first step.
func (s *startAt) skip(st *runbook.Step, sc scope) bool {
	if s == nil {
		return false
	}
	key := occurrence(sc.imports, st)
	s.mu.Lock()
	defer s.mu.Unlock()
	if skipped, ok := s.decided[key]; ok {
		return skipped
	}
	skipped := false
	switch {
	case s.found:
	case st.Name == s.name && s.eligible[st]:
		s.found = true
	default:
		skipped = st.Import == nil && !st.IsBlock()
	}
	s.decided[key] = skipped
	return skipped
}

// checkStartAt refuses a --start-at-task that names no step a run can
// start at: the run would skip every step and succeed.
func (c *checker) checkStartAt() {
	if c.start == nil {
		return
	}
	var names []string
	for st := range c.start.eligible {
		if st.Name == c.start.name {
			return
		}
		if st.Name != "" && !slices.Contains(names, st.Name) {
			names = append(names, st.Name)
		}
	}
	slices.Sort(names)
	c.errs.Add(fmt.Errorf("--start-at-task %s: no step has this name%s (handlers and a block's rescue and always steps cannot be started at)",
		decode.Quote(c.start.name), decode.Suggest(c.start.name, names)))
}
