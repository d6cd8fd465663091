// Package line is the `line` task: one line present in or absent from a
// text file, as in a config edit (sshd_config, sysctl.conf).
package line

import (
	"context"
	"errors"
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
		Name: "line",
		Doc: "Ensures a line is present in (or absent from) a text file. With regexp, the last matching line is replaced " +
			"(or every matching line removed); without a match the line is appended, or placed by insertafter or insertbefore. " +
			"The file keeps its owner and mode. " +
			"Runs editing one file at once take turns (a lock on the host), so none loses another's edit.",
		New: func() tasks.Task { return new(Line) },
	})
}

// maxSize bounds the files line edits.
const maxSize = 4 << 20

// Line is the `line` task's parameters.
type Line struct {
	Path         string         `yaml:"path" required:"true" doc:"absolute path on the host"`
	Line         string         `yaml:"line" doc:"the whole line, without its newline; required with state: present"`
	Regexp       string         `yaml:"regexp" doc:"RE2 regular expression; present: replace the last matching line; absent: remove every matching line"`
	InsertAfter  string         `yaml:"insertafter" doc:"where a new line goes (one that regexp finds nowhere): after the last line this RE2 regexp matches (as Ansible's lineinfile), or EOF (the default); at the end when none matches"`
	InsertBefore string         `yaml:"insertbefore" doc:"where a new line goes instead: before the last line this RE2 regexp matches (as Ansible's lineinfile), or BOF for the top; at the end when none matches. Not with insertafter"`
	State        string         `yaml:"state" doc:"present (default) or absent"`
	Create       bool           `yaml:"create" doc:"create the file when it is missing (default: it is an error)"`
	Mode         *hostfile.Mode `yaml:"mode" doc:"permissions for a created file; default 0644"`
	re           *regexp.Regexp
	where        hostfile.Where
}

// Provision compiles the regexps.
func (l *Line) Provision() error {
	var err error
	if l.where, err = hostfile.CompileWhere(l.InsertAfter, l.InsertBefore); err != nil {
		return err
	}
	if l.Regexp == "" {
		return nil
	}
	re, err := regexp.Compile(l.Regexp)
	if err != nil {
		return fmt.Errorf("regexp: %w", err)
	}
	l.re = re
	return nil
}

// Validate checks the parameters.
func (l *Line) Validate() error {
	if !path.IsAbs(l.Path) {
		return fmt.Errorf("path %s must be absolute", decode.Quote(l.Path))
	}
	if strings.Contains(l.Line, "\n") {
		return errors.New("line must be a single line")
	}
	switch l.State {
	case "", "present":
		if l.Line == "" && l.Regexp == "" {
			return errors.New("state: present needs line")
		}
	case "absent":
		if l.Line == "" && l.Regexp == "" {
			return errors.New("state: absent needs line or regexp")
		}
		if l.InsertAfter != "" {
			return errors.New("insertafter is used only with state: present: remove it")
		}
		if l.InsertBefore != "" {
			return errors.New("insertbefore is used only with state: present: remove it")
		}
	default:
		return fmt.Errorf("state must be present or absent, got %s", decode.Quote(l.State))
	}
	return hostfile.CheckWhere(l.InsertAfter, l.InsertBefore)
}

// Check reads the file (one command) and edits a copy in memory; applying
// does it again holding the host's lock on the file (hostfile.Edit).
func (l *Line) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	if l.re == nil && l.Regexp != "" {
		return nil, errors.New("regexp not compiled: Provision the task before Check")
	}
	return hostfile.Edit(ctx, h, l.Path, l.plan)
}

// plan reads the file and says how to edit it.
func (l *Line) plan(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	fi, data, err := hostfile.Read(ctx, h.Conn, l.Path, maxSize)
	if err != nil {
		return nil, err
	}
	absent := l.State == "absent"
	if !fi.Exists {
		if absent {
			return tasks.NoChange(), nil
		}
		if !l.Create {
			return nil, tasks.DependsOnEarlier(fmt.Errorf("%s does not exist: set create: true to create it", l.Path))
		}
	}
	edited := l.edit(string(data))
	if fi.Exists && edited == string(data) {
		return tasks.NoChange(), nil
	}
	return hostfile.PlanAt(ctx, h, hostfile.Spec{Path: l.Path, Content: hostfile.Bytes([]byte(edited)), Mode: l.Mode}, fi)
}

func (l *Line) edit(text string) string {
	lines := hostfile.Lines(text)
	matches := func(s string) bool {
		s = strings.TrimSuffix(s, "\n")
		if l.re != nil {
			return l.re.MatchString(s)
		}
		return s == l.Line
	}
	if l.State == "absent" {
		var kept []string
		for _, s := range lines {
			if !matches(s) {
				kept = append(kept, s)
			}
		}
		return strings.Join(kept, "")
	}
	for _, s := range lines {
		if strings.TrimSuffix(s, "\n") == l.Line {
			return text // already there
		}
	}
	for i := len(lines) - 1; i >= 0 && l.re != nil; i-- {
		if matches(lines[i]) {
			lines[i] = l.Line + "\n"
			return strings.Join(lines, "")
		}
	}
	if n := len(lines); n > 0 && !strings.HasSuffix(lines[n-1], "\n") {
		lines[n-1] += "\n"
	}
	return strings.Join(slices.Insert(lines, l.where.Index(lines), l.Line+"\n"), "")
}
