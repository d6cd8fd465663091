// Package runbook reads runbook files: ordered steps, each a task module
// with parameters, run on a set of hosts. Loading checks everything that
// can be checked without a host and reports every problem at once, with
// its file, line and column.
package runbook

import (
	"strconv"
	"strings"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/tasks"
	"gopkg.in/yaml.v3"
)

// Runbook is one loaded file.
type Runbook struct {
	Name      string
	Inventory []string // used when the command line gives no -i; relative to the runbook
	File      string   // path as the user gave it, or joined from an import
	Dir       string   // directory of File, for relative paths
	Vars      map[string]tmpl.Var
	Steps     []*Step
	Handlers  []*Step
	// SecretsFile keeps the secrets the `secret` template function makes
	// (agevars.Store); relative to the runbook. As with Inventory, the
	// runbook given to apply names it, not those it imports.
	SecretsFile string
	// Rotate names secrets of SecretsFile that each apply retires when
	// its run starts (agevars.RotateHeld), for the steps to make and roll
	// out anew: a rotation runbook. As SecretsFile, the runbook given to
	// apply's.
	Rotate []string
}

// Step is one entry of `steps:` or `handlers:`.
type Step struct {
	Pos      decode.Pos
	Name     string
	Hosts    []string
	HostsPos decode.Pos
	HostsAt  []decode.Pos // where each entry of Hosts is written
	Tags     []string
	When     string
	WhenPos  decode.Pos

	// A task step.
	Module       tasks.Module
	With         *yaml.Node
	Register     string
	Retries      int
	Delay        time.Duration
	Until        string
	UntilPos     decode.Pos
	Timeout      time.Duration
	Notify       []string
	Serial       []Batch
	MaxFail      *float64 // max_fail_percentage
	Become       bool
	BecomeUser   string
	BecomeMethod string // "" leaves it to the host (ansible_become_method), else sudo
	IgnoreErrors bool
	// Throttle caps how many hosts run the step at once (0: --forks);
	// AnyErrorsFatal stops the run after the step if any host failed.
	Throttle       int
	AnyErrorsFatal bool
	// Conditions on the step's result that decide its status (result.go).
	ChangedWhen, FailedWhen       string
	ChangedWhenPos, FailedWhenPos decode.Pos

	// An import step.
	Import     *Runbook
	ImportVars map[string]tmpl.Var

	// A block step (see block.go): Block runs on the group's hosts,
	// Rescue on those that failed in it, Always on every one that
	// entered it, whatever happened.
	Block, Rescue, Always []*Step
	BlockVars             map[string]tmpl.Var

	// Group keys, of blocks and imports: how the group's hosts are
	// batched and ordered, and when a failure stops the run.
	Group *Group

	// Loop repeats a task step, or an import's steps, once per item (see
	// loop.go). RunOnce runs a task step on the first host of its batch
	// only and gives the result to all of them; DelegateTo runs its
	// module against another host, or the controller, on behalf of each.
	Loop        *Loop
	RunOnce     bool
	DelegateTo  string
	DelegatePos decode.Pos

	// In is the runbook that holds the step.
	In *Runbook
}

// IsBlock reports whether the step is a block.
func (s *Step) IsBlock() bool { return s.Block != nil }

// Title is how the step is named in output.
func (s *Step) Title() string {
	if s.Name != "" {
		return s.Name
	}
	if s.Import != nil {
		return "import " + s.Import.File
	}
	if s.IsBlock() {
		return "block"
	}
	return s.Module.Name
}

// Batch is one entry of `serial:`: a number of hosts or a percentage.
type Batch struct {
	N       int
	Percent float64
}

// UnmarshalYAML reads 5 or "30%".
func (b *Batch) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		if pct, ok := strings.CutSuffix(strings.TrimSpace(n.Value), "%"); ok {
			f, err := strconv.ParseFloat(pct, 64)
			if err == nil && f > 0 && f <= 100 {
				b.Percent = f
				return nil
			}
		} else if i, err := strconv.Atoi(n.Value); err == nil && i > 0 {
			b.N = i
			return nil
		}
	}
	return decode.Errorf(decode.At("", n), "serial: want a number of hosts above 0 or a percentage such as \"30%%\", got %s", decode.NodeKind(n))
}

// Size is how many of total hosts the batch takes (at least one).
func (b Batch) Size(total int) int {
	if b.N > 0 {
		return b.N
	}
	return max(1, int(float64(total)*b.Percent/100))
}
