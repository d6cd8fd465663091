// Package group is the `group` task: a local group, present or absent.
package group

import (
	"context"
	"fmt"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "group",
		Doc:  "A local group (groupadd, groupmod, groupdel), present or absent, optionally with a fixed GID.",
		New:  func() tasks.Task { return new(Group) },
	})
}

// Group is the `group` task's parameters.
type Group struct {
	Name   string `yaml:"name" required:"true" doc:"the group's name"`
	GID    *int   `yaml:"gid" doc:"its number; default: chosen by groupadd"`
	System bool   `yaml:"system" doc:"a system group (GID from the system range) when created"`
	State  string `yaml:"state" doc:"present (default) or absent"`
}

// Validate checks the parameters.
func (g *Group) Validate() error {
	if !ValidName(g.Name) {
		return fmt.Errorf("name %s is not a valid group name", decode.Quote(g.Name))
	}
	if g.State != "" && g.State != "present" && g.State != "absent" {
		return fmt.Errorf("state must be present or absent, got %s", decode.Quote(g.State))
	}
	return nil
}

// Check reads the group database (one command).
func (g *Group) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	res, err := h.Conn.Run(ctx, "getent group "+tasks.Quote(g.Name)+" || true", nil)
	if err != nil {
		return nil, fmt.Errorf("look up group %s: %w", g.Name, err)
	}
	line := strings.TrimSpace(string(res.Stdout))
	c := &tasks.Change{}
	var cmd string
	switch {
	case g.State == "absent" && line != "":
		c.Summary = []string{"- remove group " + g.Name}
		cmd = "groupdel " + tasks.Quote(g.Name)
	case g.State == "absent":
	case line == "":
		c.Summary = []string{"+ create group " + g.Name}
		cmd = "groupadd"
		if g.System {
			cmd += " --system"
		}
		if g.GID != nil {
			cmd += fmt.Sprintf(" --gid %d", *g.GID)
		}
		cmd += " " + tasks.Quote(g.Name)
	default:
		f := strings.Split(line, ":")
		if g.GID != nil && len(f) > 2 && f[2] != fmt.Sprint(*g.GID) {
			c.Summary = []string{fmt.Sprintf("~ gid %s -> %d", f[2], *g.GID)}
			cmd = fmt.Sprintf("groupmod --gid %d %s", *g.GID, tasks.Quote(g.Name))
		}
	}
	if cmd != "" {
		c.Apply = func(ctx context.Context) (tasks.Done, error) { return tasks.Done{}, tasks.RunOK(ctx, h.Conn, cmd) }
	}
	return c, nil
}

// ValidName reports whether s is a portable user or group name.
func ValidName(s string) bool {
	if s == "" || len(s) > 32 || s[0] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return false
		}
	}
	return true
}
