// Package timer is the `timer` task: a command run on a schedule by
// systemd, as a timer unit and the service unit it starts.
package timer

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
	"github.com/runbookdev/runbook/tasks/systemd"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "timer",
		Doc: "A command run on a schedule by systemd: NAME.timer (OnCalendar, to the second) and the NAME.service it " +
			"starts (oneshot, /bin/sh -c COMMAND as user), in /etc/systemd/system, 0644 root; the timer enabled and " +
			"started. on_calendar is checked with systemd-analyze calendar on the host. Check mode compares both files " +
			"and asks systemctl whether the timer is enabled and active; a file edited or a timer stopped by hand is drift. " +
			"state: absent stops and disables the timer and removes both files.",
		New: func() tasks.Task { return new(Timer) },
	})
}

// Timer is the `timer` task's parameters.
type Timer struct {
	Name       string `yaml:"name" required:"true" doc:"the units' name, without .timer: letters, digits and :_.- (e.g. backup makes backup.timer and backup.service)"`
	OnCalendar string `yaml:"on_calendar" doc:"when, as systemd.time(7) writes it: daily, Mon *-*-* 04:00:00, *:0/15; required with state: present"`
	Command    string `yaml:"command" doc:"the command, one line, run by /bin/sh -c; required with state: present"`
	User       string `yaml:"user" doc:"the user it runs as; default root"`
	Persistent bool   `yaml:"persistent" doc:"run at boot a run missed while the host was off (Persistent=true); default false"`
	State      string `yaml:"state" doc:"present (default) or absent"`
}

var (
	unitName = regexp.MustCompile(`^[A-Za-z0-9:_.-]{1,200}$`)
	userName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)
)

// Validate checks the parameters; on_calendar's syntax is systemd's to
// judge, on the host (Check).
func (t *Timer) Validate() error {
	if !unitName.MatchString(t.Name) || strings.HasPrefix(t.Name, ".") {
		return fmt.Errorf("name %s: a unit name is letters, digits and :_.- (no @ templates), such as backup", decode.Quote(t.Name))
	}
	if strings.HasSuffix(t.Name, ".timer") || strings.HasSuffix(t.Name, ".service") {
		return fmt.Errorf("name %s: give it without .timer or .service; both units are made", decode.Quote(t.Name))
	}
	switch t.State {
	case "", "present":
	case "absent":
		if t.OnCalendar != "" || t.Command != "" {
			return errors.New("state: absent removes the timer: remove on_calendar and command")
		}
		return nil
	default:
		return fmt.Errorf("state must be present or absent, got %s", decode.Quote(t.State))
	}
	if strings.TrimSpace(t.OnCalendar) == "" || strings.ContainsAny(t.OnCalendar, "\n\r") || strings.HasPrefix(t.OnCalendar, "-") {
		return fmt.Errorf("on_calendar %s: give one calendar event such as daily or *-*-* 04:00:00 (systemd.time(7))", decode.Quote(t.OnCalendar))
	}
	if strings.TrimSpace(t.Command) == "" || strings.ContainsAny(t.Command, "\n\r") {
		return errors.New("command: give one line to run (a longer script goes in a file)")
	}
	if t.User != "" && !userName.MatchString(t.User) {
		return fmt.Errorf("user %s is not a user name", decode.Quote(t.User))
	}
	return nil
}

func unitPath(name string) string { return "/etc/systemd/system/" + name }

// execQuote makes s one argument of an ExecStart= line: double-quoted,
// with systemd's specifiers (%) and variables ($) doubled so that the
// shell gets them as written.
func execQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, `%`, `%%`, `$`, `$$`).Replace(s) + `"`
}

func (t *Timer) service() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# runbook: timer %s. Changes made here are drift, undone by the next run.\n", t.Name)
	fmt.Fprintf(&b, "[Unit]\nDescription=runbook timer %s\n\n[Service]\nType=oneshot\n", t.Name)
	if t.User != "" && t.User != "root" {
		fmt.Fprintf(&b, "User=%s\n", t.User)
	}
	fmt.Fprintf(&b, "ExecStart=/bin/sh -c %s\n", execQuote(t.Command))
	return b.String()
}

func (t *Timer) timer() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# runbook: timer %s. Changes made here are drift, undone by the next run.\n", t.Name)
	fmt.Fprintf(&b, "[Unit]\nDescription=runbook timer %s\n\n[Timer]\nOnCalendar=%s\n", t.Name, t.OnCalendar)
	// systemd's default (a minute) lets a job run up to a minute late, to
	// batch wake-ups: not what anybody moving from cron expects.
	b.WriteString("AccuracySec=1s\n")
	if t.Persistent {
		b.WriteString("Persistent=true\n")
	}
	b.WriteString("\n[Install]\nWantedBy=timers.target\n")
	return b.String()
}

func (t *Timer) status(ctx context.Context, c tasks.Conn) (systemd.UnitState, error) {
	res, err := c.Run(ctx, systemd.ShowState(t.Name+".timer"), nil)
	if err != nil {
		return systemd.UnitState{}, fmt.Errorf("ask systemd about %s.timer: %w", t.Name, err)
	}
	if !res.OK() {
		return systemd.UnitState{}, fmt.Errorf("ask systemd about %s.timer: %s", t.Name, res.Failure())
	}
	return systemd.ParseState(res.Stdout, nil)
}

// Check asks systemd whether on_calendar is an event, compares both unit
// files, and asks whether the timer is enabled and active.
func (t *Timer) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	st, err := t.status(ctx, h.Conn)
	if err != nil {
		return nil, err
	}
	if t.State == "absent" {
		return t.remove(ctx, h, st)
	}
	res, err := h.Conn.Run(ctx, "systemd-analyze calendar "+tasks.Quote(t.OnCalendar), nil)
	if err != nil {
		return nil, fmt.Errorf("check on_calendar with systemd-analyze: %w", err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("on_calendar %s is not a calendar event systemd knows (systemd.time(7)): %s", decode.Quote(t.OnCalendar), res.Failure())
	}
	c := &tasks.Change{Result: map[string]any{"active_state": st.Active, "unit_file_state": st.UnitFile}}
	mode := hostfile.Mode(0o644)
	var files []*tasks.Change
	timerChanged := false
	for _, u := range []struct{ name, content string }{{t.Name + ".service", t.service()}, {t.Name + ".timer", t.timer()}} {
		f, err := hostfile.Plan(ctx, h, hostfile.Spec{Path: unitPath(u.name), Content: hostfile.Bytes([]byte(u.content)), Mode: &mode, Owner: "root", Group: "root"})
		if err != nil {
			return nil, err
		}
		if f.Changed() {
			files = append(files, f)
			c.Summary, c.Diff = append(c.Summary, f.Summary...), c.Diff+f.Diff
			timerChanged = timerChanged || strings.HasSuffix(u.name, ".timer")
		}
	}
	unit := tasks.Quote(t.Name + ".timer")
	var steps []string
	if len(files) > 0 {
		steps = append(steps, "systemctl daemon-reload")
	}
	if st.UnitFile != "enabled" {
		c.Summary = append(c.Summary, fmt.Sprintf("~ enable %s.timer (is %s)", t.Name, orNone(st.UnitFile)))
		steps = append(steps, "systemctl enable -q "+unit)
	}
	switch {
	case st.Active != "active":
		c.Summary = append(c.Summary, fmt.Sprintf("~ start %s.timer (is %s)", t.Name, st.Active))
		steps = append(steps, "systemctl start "+unit)
	case timerChanged:
		// A running timer keeps the schedule it started with.
		c.Summary = append(c.Summary, fmt.Sprintf("~ restart %s.timer: its schedule changed", t.Name))
		steps = append(steps, "systemctl restart "+unit)
	}
	if len(steps) == 0 {
		return c, nil
	}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		for _, f := range files {
			if _, err := f.Apply(ctx); err != nil {
				return tasks.Done{}, err
			}
		}
		for _, cmd := range steps {
			if err := tasks.RunOK(ctx, h.Conn, cmd); err != nil {
				return tasks.Done{}, fmt.Errorf("timer %s: %w", t.Name, err)
			}
		}
		return tasks.Done{Result: map[string]any{"active_state": "active", "unit_file_state": "enabled"}}, nil
	}
	return c, nil
}

// remove stops and disables the timer and removes both files.
func (t *Timer) remove(ctx context.Context, h *tasks.Host, st systemd.UnitState) (*tasks.Change, error) {
	c := &tasks.Change{Result: map[string]any{"active_state": st.Active, "unit_file_state": st.UnitFile}}
	var paths []string
	for _, name := range []string{t.Name + ".timer", t.Name + ".service"} {
		fi, err := hostfile.Stat(ctx, h.Conn, unitPath(name), 0)
		if err != nil {
			return nil, err
		}
		if fi.Exists {
			paths = append(paths, tasks.Quote(unitPath(name)))
			c.Summary = append(c.Summary, "- remove "+unitPath(name))
		}
	}
	running := st.Active == "active" || st.Active == "activating"
	if running {
		c.Summary = append([]string{fmt.Sprintf("~ stop %s.timer", t.Name)}, c.Summary...)
	}
	if len(paths) == 0 && !running {
		return c, nil
	}
	unit := tasks.Quote(t.Name + ".timer")
	cmd := fmt.Sprintf("systemctl disable -q --now %s 2>/dev/null; systemctl stop %s 2>/dev/null; true", unit, tasks.Quote(t.Name+".service"))
	if len(paths) > 0 {
		cmd += " && rm -f -- " + strings.Join(paths, " ") + " && systemctl daemon-reload"
	}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		return tasks.Done{}, tasks.RunOK(ctx, h.Conn, cmd)
	}
	return c, nil
}

func orNone(s string) string {
	if s == "" {
		return "not installed"
	}
	return s
}
