package engine

import (
	"fmt"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
)

// emptyStep is a step whose host patterns, narrowed by --limit, select no
// host, although each of their terms matches some.
type emptyStep struct {
	st       *runbook.Step
	patterns []string
	narrowed bool // by the hosts of an enclosing block or import
}

func (s emptyStep) String() string {
	quoted := make([]string, len(s.patterns))
	for i, p := range s.patterns {
		quoted[i] = decode.Quote(p)
	}
	return strings.Join(quoted, ", ")
}

// checkEmptyRun refuses a run in which no step runs on any host: it would
// do nothing and report success, and a drift check in CI would pass on an
// inventory that has lost its hosts. As in Ansible ("Could not match
// supplied host pattern"), the error names what selected nothing. Steps
// whose terms match nothing have been reported already. When a step runs
// on the controller, the run does something: later steps are matched when
// reached, against the inventory that step may have changed.
func (c *checker) checkEmptyRun(rb *runbook.Runbook, limitOK bool) {
	if c.inv == nil || c.ranAny || !c.exact {
		return
	}
	if len(c.opts.Limit) > 0 {
		if !limitOK {
			return // --limit's own terms are reported
		}
		var steps []string
		for _, e := range c.empty {
			steps = append(steps, fmt.Sprintf("%s at %s", e, e.st.HostsPos))
		}
		which := ""
		if len(steps) > 0 {
			which = " (hosts: " + someOf(steps) + ")"
		}
		c.errs.Add(fmt.Errorf("--limit %s: no step of %s runs on these hosts%s", strings.Join(c.opts.Limit, ","), rb.File, which))
		return
	}
	if len(c.empty) == 0 {
		return
	}
	for _, e := range c.empty {
		within := ""
		if e.narrowed {
			within = " within the hosts of its block or import"
		}
		c.errs.Add(decode.Errorf(e.st.HostsPos, "hosts: %s selects no host%s", e, within))
	}
	c.errs.Add(fmt.Errorf("no step of %s runs on any host: nothing would run; fix the hosts: patterns or the inventory", rb.File))
}
