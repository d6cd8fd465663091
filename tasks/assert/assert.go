// Package assert is the `assert` task: a read-only probe whose exit code
// and output must meet expectations, for verification steps.
package assert

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "assert",
		Doc: "Runs a probe command and fails the step unless its exit code and output are as expected " +
			"(e.g. \"port 8181 is refused from fcc00\"). It changes nothing, so it runs in check mode too.",
		New: func() tasks.Task { return new(Assert) },
	})
}

// Assert is the `assert` task's parameters.
type Assert struct {
	Cmd            string   `yaml:"cmd" required:"true" doc:"the probe, run by sh"`
	RC             *int     `yaml:"rc" doc:"the exit code it must return; default 0"`
	Fails          bool     `yaml:"fails" doc:"the probe must fail: any exit code but 0"`
	StdoutContains []string `yaml:"stdout_contains" doc:"strings stdout must contain"`
	StdoutExcludes []string `yaml:"stdout_excludes" doc:"strings stdout must not contain"`
	StdoutMatches  string   `yaml:"stdout_matches" doc:"RE2 regular expression stdout must match"`
	Msg            string   `yaml:"msg" doc:"what it means when the assertion fails, shown first"`
}

// Validate checks the parameters.
func (a *Assert) Validate() error {
	if a.Fails && a.RC != nil {
		return fmt.Errorf("give rc or fails, not both")
	}
	if a.StdoutMatches != "" {
		if _, err := regexp.Compile(a.StdoutMatches); err != nil {
			return fmt.Errorf("stdout_matches: %w", err)
		}
	}
	return nil
}

// Check runs the probe and compares.
func (a *Assert) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	res, err := h.Conn.Run(ctx, a.Cmd, nil)
	if err != nil {
		return nil, fmt.Errorf("run probe %q: %w", a.Cmd, err)
	}
	out := string(res.Stdout)
	var bad []string
	switch {
	case a.Fails && res.Code == 0:
		bad = append(bad, "exit code 0, want a failure")
	case !a.Fails && a.RC == nil && res.Code != 0:
		bad = append(bad, res.Failure()+", want exit code 0")
	case a.RC != nil && res.Code != *a.RC:
		bad = append(bad, fmt.Sprintf("%s, want exit code %d", res.Failure(), *a.RC))
	}
	for _, s := range a.StdoutContains {
		if !strings.Contains(out, s) {
			bad = append(bad, fmt.Sprintf("stdout does not contain %q", s))
		}
	}
	for _, s := range a.StdoutExcludes {
		if strings.Contains(out, s) {
			bad = append(bad, fmt.Sprintf("stdout contains %q", s))
		}
	}
	if a.StdoutMatches != "" && !regexp.MustCompile(a.StdoutMatches).MatchString(out) {
		bad = append(bad, fmt.Sprintf("stdout does not match %q", a.StdoutMatches))
	}
	if len(bad) > 0 {
		msg := fmt.Sprintf("assertion failed: %q: %s", a.Cmd, strings.Join(bad, "; "))
		if a.Msg != "" {
			msg = a.Msg + ": " + msg
		}
		// What is probed may be what an earlier step installs.
		return nil, tasks.DependsOnEarlier(errors.New(msg))
	}
	return &tasks.Change{Result: map[string]any{
		"rc": res.Code, "stdout": strings.TrimRight(out, "\n"), "stderr": strings.TrimRight(string(res.Stderr), "\n"),
	}}, nil
}
