// Package command is the `command` task: run a shell command, made
// idempotent by creates, removes or unless.
package command

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "command",
		Doc: "Runs a shell command (sh). With creates, removes or unless it runs only when needed, and check mode says whether it would. " +
			"Without them it runs every time and reports changed (check mode says it would, without running it; `changed_when:` says otherwise); a read_only command runs in check mode too and never reports changed. " +
			"Registers rc, stdout and stderr.",
		New: func() tasks.Task { return new(Command) },
	})
}

// Command is the `command` task's parameters.
type Command struct {
	Cmd     string            `yaml:"cmd" required:"true" doc:"the command, run by sh (read from its input, never in a process's arguments)"`
	Chdir   string            `yaml:"chdir" doc:"directory to run it in"`
	Env     map[string]string `yaml:"env" doc:"environment variables to set"`
	Stdin   string            `yaml:"stdin" doc:"text to feed on standard input"`
	Creates string            `yaml:"creates" doc:"run only when this path does not exist"`
	Removes string            `yaml:"removes" doc:"run only when this path exists"`
	Unless  string            `yaml:"unless" doc:"run only when this command (run as cmd is, same chdir and env) exits non-zero"`
	OKCodes []int             `yaml:"ok_codes" doc:"exit codes that count as success; default [0]"`
	// ReadOnly is for probes whose output later steps use: they are safe
	// to run in check mode, so check mode can see what they return.
	ReadOnly bool `yaml:"read_only" doc:"the command changes nothing (a probe, e.g. consul members): it runs in check mode too and reports ok, never changed"`
}

// Validate checks the parameters.
func (c *Command) Validate() error {
	if strings.TrimSpace(c.Cmd) == "" {
		return errors.New("cmd is empty")
	}
	if c.ReadOnly && c.guarded() {
		return errors.New("read_only commands always run: creates, removes and unless do not apply")
	}
	for k := range c.Env {
		if !validEnv(k) {
			return fmt.Errorf("env: %s is not a valid variable name", decode.Quote(k))
		}
	}
	return nil
}

func (c *Command) guarded() bool { return c.Creates != "" || c.Removes != "" || c.Unless != "" }

// Check evaluates the guards on the host, all in one command.
func (c *Command) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	if c.ReadOnly {
		data, err := c.run(ctx, h)
		if err != nil && data != nil {
			// The probe ran and failed: its exit code is registered (and
			// failed_when may judge it), and what it asks about may be
			// what an earlier step installs.
			return &tasks.Change{Result: data, Failure: tasks.DependsOnEarlier(err)}, nil
		}
		if err != nil {
			return nil, err
		}
		return &tasks.Change{Result: data}, nil
	}
	change := &tasks.Change{
		Summary: []string{"run: " + c.Cmd},
		Apply: func(ctx context.Context) (tasks.Done, error) {
			data, err := c.run(ctx, h)
			return tasks.Done{Result: data}, err
		},
	}
	if !c.guarded() {
		// It runs, and changes, every time: check mode says it would.
		return change, nil
	}
	res, err := h.Conn.Run(ctx, c.probe(), nil)
	if err != nil {
		return nil, fmt.Errorf("check guards of %q: %w", c.Cmd, err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("check guards of %q: %s", c.Cmd, res.Failure())
	}
	if reason, skip := strings.CutPrefix(strings.TrimSpace(string(res.Stdout)), "skip:"); skip {
		return &tasks.Change{Result: map[string]any{"skip_reason": reason}}, nil
	}
	return change, nil
}

// probe prints "skip:<reason>" when a guard says the command is not needed,
// else "run".
func (c *Command) probe() string {
	var b strings.Builder
	if c.Creates != "" {
		fmt.Fprintf(&b, "if [ -e %[1]s ]; then echo 'skip:%[2]s exists'; exit 0; fi\n", c.path(c.Creates), strings.ReplaceAll(c.Creates, "'", ""))
	}
	if c.Removes != "" {
		fmt.Fprintf(&b, "if [ ! -e %[1]s ]; then echo 'skip:%[2]s does not exist'; exit 0; fi\n", c.path(c.Removes), strings.ReplaceAll(c.Removes, "'", ""))
	}
	if c.Unless != "" {
		fmt.Fprintf(&b, "if %s >/dev/null 2>&1 </dev/null; then echo 'skip:unless command succeeded'; exit 0; fi\n", c.wrap(c.Unless))
	}
	b.WriteString("echo run\n")
	return b.String()
}

// path quotes p, relative to chdir when it is relative.
func (c *Command) path(p string) string {
	if c.Chdir != "" && !strings.HasPrefix(p, "/") {
		p = strings.TrimSuffix(c.Chdir, "/") + "/" + p
	}
	return tasks.Quote(p)
}

// wrap runs cmd in chdir with env, in a subshell. The command is eval'd
// there rather than given to `sh -c`, whose argv every local user of the
// host could read in ps, with whatever secrets were rendered into it.
func (c *Command) wrap(cmd string) string {
	var b strings.Builder
	b.WriteString("(")
	if c.Chdir != "" {
		fmt.Fprintf(&b, "cd %s && ", tasks.Quote(c.Chdir))
	}
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		fmt.Fprintf(&b, "export %s=%s && ", k, tasks.Quote(c.Env[k]))
	}
	fmt.Fprintf(&b, "eval %s)", tasks.Quote(cmd))
	return b.String()
}

func (c *Command) run(ctx context.Context, h *tasks.Host) (map[string]any, error) {
	var stdin io.Reader
	if c.Stdin != "" {
		stdin = strings.NewReader(c.Stdin)
	}
	res, err := h.Conn.Run(ctx, c.wrap(c.Cmd), stdin)
	if err != nil {
		return nil, fmt.Errorf("run %q: %w", c.Cmd, err)
	}
	data := map[string]any{
		"rc":     res.Code,
		"stdout": strings.TrimRight(string(res.Stdout), "\n"),
		"stderr": strings.TrimRight(string(res.Stderr), "\n"),
	}
	ok := slices.Contains(c.OKCodes, res.Code) || len(c.OKCodes) == 0 && res.Code == 0
	if !ok {
		return data, fmt.Errorf("%q: %s", c.Cmd, res.Failure())
	}
	return data, nil
}

func validEnv(k string) bool {
	if k == "" {
		return false
	}
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
