package engine_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{Name: "t_show", Doc: "test module", New: func() tasks.Task { return new(show) }})
}

// show reports a variable as its summary, read from the host's variables
// rather than through a template, as a module that shows registered
// values (debug) may.
type show struct {
	Var string `yaml:"var"`
}

func (s *show) Check(_ context.Context, h *tasks.Host) (*tasks.Change, error) {
	return &tasks.Change{Summary: []string{fmt.Sprintf("%s = %v", s.Var, h.Vars[s.Var])}}, nil
}

// TestWhatAStepReadingASecretPrintsIsSecret: a host can print a secret
// it was given in forms no list foresees (reversed, hashed). What a step
// that read a secret prints is hidden in its own report, and what it
// registers is hidden wherever it is shown later, through a template or
// not; what the same lines are elsewhere is not hidden.
func TestWhatAStepReadingASecretPrintsIsSecret(t *testing.T) {
	const pw = "Open-Sesame-42"
	r := []rune(pw)
	slices.Reverse(r)
	reversed := string(r)
	sum := sha256.Sum256([]byte(pw))
	hashed := hex.EncodeToString(sum[:])
	site := `
vars:
  pw: !secret ` + pw + `
steps:
  - name: reads
    hosts: all
    task: command
    ignore_errors: true
    with: {cmd: "printf '%s\n' {{ quote .pw }} | rev; echo plain-line-zz >&2; exit 1"}
  - name: plain
    hosts: all
    task: command
    ignore_errors: true
    with: {cmd: "echo plain-line-zz >&2; exit 1"}
  - name: derive
    hosts: all
    task: command
    register: r
    with: {cmd: "printf '%s' {{ quote .pw }} | sha256sum"}
  - name: shout
    hosts: all
    task: command
    ignore_errors: true
    with: {cmd: "echo {{ quote .r.stdout }} | tr a-z A-Z; exit 1"}
  - name: show
    hosts: all
    task: t_show
    with: {var: r}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range rendered(c.events) {
		for _, s := range []string{reversed, hashed, strings.ToUpper(hashed)} {
			if i := strings.Index(out, s); i >= 0 {
				t.Errorf("shows %q: ...%s...", s, out[max(0, i-60):min(len(out), i+len(s)+20)])
			}
		}
	}
	if m := c.find("reads", "h1").Message; !strings.Contains(m, "exit status 1") || strings.Contains(m, "plain-line-zz") {
		t.Errorf("reads: every line it printed should be hidden in its report: %q", m)
	}
	if m := c.find("plain", "h1").Message; !strings.Contains(m, "plain-line-zz") {
		t.Errorf("plain: what a step that read no secret prints is shown: %q", m)
	}
	if s := c.find("show", "h1").Changes; len(s) != 1 || !strings.HasPrefix(s[0], "r = map[") || !strings.Contains(s[0], "********") {
		t.Errorf("show: %q", s)
	}
}
