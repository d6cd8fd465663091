// Package cron is the `cron` task: one job as a file of /etc/cron.d.
package cron

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "cron",
		Doc: "A cron job as a file of its own in /etc/cron.d (0644 root, as cron requires): its schedule (five fields, " +
			"each * by default, or special_time such as daily or reboot), the user it runs as, the command, and " +
			"environment lines above it. Check mode compares the whole file; an edit by hand is drift. " +
			"The schedule is checked against crontab(5) before anything runs.",
		New: func() tasks.Task { return new(Cron) },
	})
}

// Cron is the `cron` task's parameters.
type Cron struct {
	Name        string            `yaml:"name" required:"true" doc:"the file's name in /etc/cron.d: letters, digits, _ and - (cron ignores others), e.g. backup"`
	Minute      string            `yaml:"minute" doc:"0-59, default *; lists (1,15), ranges (1-5) and steps (*/10) as crontab(5) has them"`
	Hour        string            `yaml:"hour" doc:"0-23, default *"`
	Day         string            `yaml:"day" doc:"day of the month, 1-31, default *"`
	Month       string            `yaml:"month" doc:"1-12 or jan-dec, default *"`
	Weekday     string            `yaml:"weekday" doc:"0-7 (0 and 7 are Sunday) or sun-sat, default *"`
	SpecialTime string            `yaml:"special_time" doc:"instead of the five fields: reboot, yearly, annually, monthly, weekly, daily, midnight or hourly"`
	User        string            `yaml:"user" doc:"the user the job runs as; default root"`
	Job         string            `yaml:"job" doc:"the command, one line, run by /bin/sh; write \\% for a literal % (cron makes % a newline); required with state: present"`
	Env         map[string]string `yaml:"env" doc:"variables set above the job (PATH, MAILTO), written NAME=value in name order (an empty value as NAME=\"\")"`
	State       string            `yaml:"state" doc:"present (default) or absent (the file removed)"`
}

var (
	fileName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	userName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*\$?$`)
	envName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	specials = []string{"reboot", "yearly", "annually", "monthly", "weekly", "daily", "midnight", "hourly"}
)

// field is one of the five: its name and what crontab(5) allows in it.
type field struct {
	param    string
	min, max int
	names    []string // names for min, min+1, ...
}

var fields = []field{
	{"minute", 0, 59, nil},
	{"hour", 0, 23, nil},
	{"day", 1, 31, nil},
	{"month", 1, 12, []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{"weekday", 0, 7, []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// Provision sets the defaults.
func (c *Cron) Provision() error {
	for _, f := range c.schedule() {
		if *f == "" && c.SpecialTime == "" {
			*f = "*"
		}
	}
	if c.User == "" {
		c.User = "root"
	}
	c.SpecialTime = strings.TrimPrefix(c.SpecialTime, "@")
	return nil
}

func (c *Cron) schedule() []*string {
	return []*string{&c.Minute, &c.Hour, &c.Day, &c.Month, &c.Weekday}
}

// Validate checks the parameters, the schedule as crontab(5) reads it.
func (c *Cron) Validate() error {
	if !fileName.MatchString(c.Name) {
		return fmt.Errorf("name %s: cron reads only files of /etc/cron.d named with letters, digits, _ and -, such as backup or logrotate-app", decode.Quote(c.Name))
	}
	switch c.State {
	case "", "present":
	case "absent":
		return nil
	default:
		return fmt.Errorf("state must be present or absent, got %s", decode.Quote(c.State))
	}
	if c.SpecialTime != "" {
		if !slices.Contains(specials, c.SpecialTime) {
			return fmt.Errorf("special_time %s: want one of %s", decode.Quote(c.SpecialTime), strings.Join(specials, ", "))
		}
		for i, f := range c.schedule() {
			if *f != "" {
				return fmt.Errorf("%s: special_time is the whole schedule: remove %s", fields[i].param, fields[i].param)
			}
		}
	} else {
		for i, f := range c.schedule() {
			if err := fields[i].check(*f); err != nil {
				return err
			}
		}
	}
	if !userName.MatchString(c.User) {
		return fmt.Errorf("user %s is not a user name", decode.Quote(c.User))
	}
	if strings.TrimSpace(c.Job) == "" {
		return fmt.Errorf("job: give the command to run (or state: absent to remove the job)")
	}
	if strings.ContainsAny(c.Job, "\n\r") {
		return fmt.Errorf("job must be one line: put a longer script in a file and run that")
	}
	if i := unescapedPercent(c.Job); i >= 0 {
		return fmt.Errorf("job: cron turns %% into a newline (at byte %d of %s): write \\%% for a literal %%", i, decode.Quote(c.Job))
	}
	for k, v := range c.Env {
		if !envName.MatchString(k) {
			return fmt.Errorf("env: %s is not a variable name", decode.Quote(k))
		}
		if strings.ContainsAny(v, "\n\r") || strings.TrimSpace(v) != v || strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "'") {
			return fmt.Errorf("env %s: a value is one line, without blanks at either end or a leading quote (cron would strip them)", k)
		}
	}
	return nil
}

// unescapedPercent is where job has a % not preceded by \, or -1.
func unescapedPercent(job string) int {
	for i := 0; i < len(job); i++ {
		switch job[i] {
		case '\\':
			i++
		case '%':
			return i
		}
	}
	return -1
}

// check judges one field: * or a list of numbers and ranges, each with
// an optional step; a name (jan, mon) only alone, as crontab(5) says.
func (f field) check(v string) error {
	bad := func(why string) error {
		return fmt.Errorf("%s %s: %s (crontab(5): %d-%d, *, lists a,b, ranges a-b, steps */n or a-b/n)", f.param, decode.Quote(v), why, f.min, f.max)
	}
	if i := slices.Index(f.names, strings.ToLower(v)); i >= 0 {
		return nil
	}
	if v == "" {
		return bad("empty")
	}
	for _, item := range strings.Split(v, ",") {
		rng, step, stepped := strings.Cut(item, "/")
		if stepped {
			n, ok := number(step)
			if !ok || n == 0 {
				return bad("a step is a number above 0")
			}
		}
		if rng == "*" {
			continue
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		a, ok := number(lo)
		if !ok || a < f.min || a > f.max {
			return bad(fmt.Sprintf("%s is not a number in range", decode.Quote(lo)))
		}
		if !isRange {
			if stepped {
				return bad("a step goes after * or a range")
			}
			continue
		}
		b, ok := number(hi)
		if !ok || b < f.min || b > f.max || b < a {
			return bad(fmt.Sprintf("%s is not a range", decode.Quote(rng)))
		}
	}
	return nil
}

func number(s string) (int, bool) {
	if s == "" || len(s) > 3 {
		return 0, false
	}
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + int(r-'0')
	}
	return n, true
}

func (c *Cron) path() string { return path.Join("/etc/cron.d", c.Name) }

// content is the file: a note, the environment, the job.
func (c *Cron) content() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# runbook: cron job %s. Changes made here are drift, undone by the next run.\n", c.Name)
	keys := make([]string, 0, len(c.Env))
	for k := range c.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := c.Env[k]
		if v == "" {
			// Unquoted, cron takes NAME= for a job line with a bad minute.
			v = `""`
		}
		fmt.Fprintf(&b, "%s=%s\n", k, v)
	}
	when := "@" + c.SpecialTime
	if c.SpecialTime == "" {
		when = strings.Join([]string{c.Minute, c.Hour, c.Day, c.Month, c.Weekday}, " ")
	}
	fmt.Fprintf(&b, "%s %s %s\n", when, c.User, c.Job)
	return b.String()
}

// Check compares the file with what it should hold.
func (c *Cron) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	p := c.path()
	if c.State == "absent" {
		fi, err := hostfile.Stat(ctx, h.Conn, p, 0)
		if err != nil {
			return nil, err
		}
		if !fi.Exists {
			return tasks.NoChange(), nil
		}
		ch := &tasks.Change{Summary: []string{"- remove " + p}}
		ch.Apply = func(ctx context.Context) (tasks.Done, error) {
			return tasks.Done{}, tasks.RunOK(ctx, h.Conn, "rm -f -- "+tasks.Quote(p))
		}
		return ch, nil
	}
	mode := hostfile.Mode(0o644)
	return hostfile.Plan(ctx, h, hostfile.Spec{Path: p, Content: hostfile.Bytes([]byte(c.content())), Mode: &mode, Owner: "root", Group: "root"})
}
