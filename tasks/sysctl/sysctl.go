// Package sysctl is the `sysctl` task: a kernel parameter's value, now
// (the running kernel) and at boot (a line in /etc/sysctl.d).
package sysctl

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/line"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "sysctl",
		Doc: "A kernel parameter (net.ipv4.ip_forward): its value in the running kernel (sysctl -w) and a line " +
			"`name = value` in a file of /etc/sysctl.d that sets it at boot. Check mode reads both (sysctl -n, the file); " +
			"a value changed by hand in either is drift. state: absent removes the line (the running value stays as it is: " +
			"the kernel has no \"unset\").",
		New: func() tasks.Task { return new(Sysctl) },
	})
}

// Sysctl is the `sysctl` task's parameters.
type Sysctl struct {
	Name  string `yaml:"name" required:"true" doc:"the parameter, dotted (net.ipv4.ip_forward) or with slashes as under /proc/sys"`
	Value string `yaml:"value" doc:"its value; several numbers are separated by spaces (net.ipv4.ip_local_port_range: 32768 60999); required with state: present"`
	State string `yaml:"state" doc:"present (default) or absent"`
	File  string `yaml:"file" doc:"the file that sets it at boot; default /etc/sysctl.d/99-runbook.conf"`
	// Reload false leaves the running kernel alone (a parameter for the
	// next boot only).
	Reload *bool `yaml:"reload" doc:"also set it in the running kernel; default true"`
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9_-]+([./][a-zA-Z0-9_*:@-]+)+$`)

// Provision sets the defaults and writes the name dotted, as sysctl does.
func (s *Sysctl) Provision() error {
	s.Name = strings.ReplaceAll(s.Name, "/", ".")
	if s.File == "" {
		s.File = "/etc/sysctl.d/99-runbook.conf"
	}
	if strings.ContainsAny(s.Value, "\n\r") {
		return errors.New("value must be one line")
	}
	s.Value = strings.Join(strings.Fields(s.Value), " ")
	return nil
}

// Validate checks the parameters.
func (s *Sysctl) Validate() error {
	if !validName.MatchString(s.Name) {
		return fmt.Errorf("name %s is not a kernel parameter such as net.ipv4.ip_forward", decode.Quote(s.Name))
	}
	switch s.State {
	case "", "present":
		if s.Value == "" {
			return errors.New("state: present needs value")
		}
	case "absent":
	default:
		return fmt.Errorf("state must be present or absent, got %s", decode.Quote(s.State))
	}
	if strings.ContainsAny(s.Value, "\n\r") {
		return errors.New("value must be one line")
	}
	if !strings.HasPrefix(s.File, "/") {
		return fmt.Errorf("file %s must be absolute", decode.Quote(s.File))
	}
	return nil
}

// file is the edit of the boot-time file, made by the line module.
func (s *Sysctl) file() (*line.Line, error) {
	l := &line.Line{
		Path:   s.File,
		Line:   s.Name + " = " + s.Value,
		Regexp: `^\s*-?` + regexp.QuoteMeta(s.Name) + `\s*=`,
		State:  s.State,
		Create: true,
	}
	if s.State == "absent" {
		l.Line = ""
	}
	return l, tasks.Prepare(l)
}

// Check reads the running value and the file.
func (s *Sysctl) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	edit, err := s.file()
	if err != nil {
		return nil, err
	}
	fc, err := edit.Check(ctx, h)
	if err != nil {
		return nil, err
	}
	c := &tasks.Change{Summary: fc.Summary, Diff: fc.Diff}
	runtime := s.State != "absent" && (s.Reload == nil || *s.Reload)
	var now string
	if runtime {
		res, err := h.Conn.Run(ctx, "sysctl -n "+tasks.Quote(s.Name), nil)
		if err != nil {
			return nil, err
		}
		if !res.OK() {
			return nil, fmt.Errorf("read %s: %s", s.Name, res.Failure())
		}
		now = strings.Join(strings.Fields(string(res.Stdout)), " ")
		if now != s.Value {
			c.Summary = append(c.Summary, fmt.Sprintf("~ %s %s -> %s (running kernel)", s.Name, now, s.Value))
		}
	}
	c.Result = map[string]any{"value": now}
	if len(c.Summary) == 0 {
		return c, nil
	}
	setRuntime := runtime && now != s.Value
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		if fc.Apply != nil {
			if _, err := fc.Apply(ctx); err != nil {
				return tasks.Done{}, err
			}
		}
		if setRuntime {
			if err := tasks.RunOK(ctx, h.Conn, "sysctl -q -w "+tasks.Quote(s.Name+"="+s.Value)); err != nil {
				return tasks.Done{}, fmt.Errorf("set %s in the running kernel: %w", s.Name, err)
			}
		}
		return tasks.Done{Result: map[string]any{"value": s.Value}}, nil
	}
	return c, nil
}
