// Package template is the `template` task: a Go text/template file from
// the controller, rendered with the host's variables, at a path on the host.
package template

import (
	"context"
	"fmt"
	"path"

	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "template",
		Doc: "Renders a Go text/template file from the runbook's directory with the host's variables (and .facts), then places it like copy. " +
			"A variable the template uses but nobody defined is an error naming the file and line. The diff shows the rendered change.",
		New: func() tasks.Task { return new(Template) },
	})
}

// Template is the `template` task's parameters.
type Template struct {
	Src   string         `yaml:"src" required:"true" doc:"template file on the controller, relative to the runbook's directory"`
	Dest  string         `yaml:"dest" required:"true" doc:"absolute path on the host"`
	Mode  *hostfile.Mode `yaml:"mode" doc:"permissions in octal; default: left alone, 0644 for a new file"`
	Owner string         `yaml:"owner" doc:"owning user; default: left alone"`
	Group string         `yaml:"group" doc:"owning group; default: left alone"`
}

// Validate checks the parameters.
func (t *Template) Validate() error {
	if !path.IsAbs(t.Dest) {
		return fmt.Errorf("dest %q must be absolute", t.Dest)
	}
	return nil
}

// ControllerFiles is the template file.
func (t *Template) ControllerFiles() []tasks.ControllerFile {
	return []tasks.ControllerFile{{Param: "src", Path: t.Src, Template: true}}
}

// Check renders the template and compares the result with the host's file.
func (t *Template) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	out, err := Render(ctx, h, t.Src)
	if err != nil {
		return nil, err
	}
	return hostfile.Plan(ctx, h, hostfile.Spec{Path: t.Dest, Content: hostfile.Bytes(out), Mode: t.Mode, Owner: t.Owner, Group: t.Group})
}
