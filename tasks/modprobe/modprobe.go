// Package modprobe is the `modprobe` task: a kernel module loaded (or
// not) now, and at boot.
package modprobe

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "modprobe",
		Doc: "A kernel module loaded (modprobe) or unloaded (modprobe -r) now and, with persistent, at boot: " +
			"/etc/modules-load.d/NAME.conf names it and /etc/modprobe.d/NAME.conf holds its params (options NAME ...). " +
			"Check mode reads /proc/modules, /sys/module/NAME and the running kernel's modules.builtin: a module built into " +
			"the kernel counts as loaded (and cannot be unloaded). The params of a module already loaded are not compared " +
			"(changing them needs an unload). The files are written before the module is loaded, so one that cannot load now " +
			"is still loaded at boot; the step then fails with modprobe's error.",
		New: func() tasks.Task { return new(Modprobe) },
	})
}

// Modprobe is the `modprobe` task's parameters.
type Modprobe struct {
	Name       string `yaml:"name" required:"true" doc:"the module (br_netfilter; a - is read as _, as the kernel does)"`
	Params     string `yaml:"params" doc:"its parameters, space-separated name=value (numdummies=2)"`
	State      string `yaml:"state" doc:"present (default): loaded; absent: unloaded"`
	Persistent bool   `yaml:"persistent" doc:"also at boot: present writes /etc/modules-load.d/NAME.conf and, with params, /etc/modprobe.d/NAME.conf; absent removes both"`
}

var (
	validName  = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
	validParam = regexp.MustCompile(`^[A-Za-z0-9_.-]+(=[^\s"'\\]*)?$`)
)

// Provision writes the name as the kernel does.
func (m *Modprobe) Provision() error {
	m.Name = strings.ReplaceAll(m.Name, "-", "_")
	m.Params = strings.Join(strings.Fields(m.Params), " ")
	return nil
}

// Validate checks the parameters.
func (m *Modprobe) Validate() error {
	if !validName.MatchString(m.Name) {
		return fmt.Errorf("name %s is not a kernel module's name such as br_netfilter", decode.Quote(m.Name))
	}
	switch m.State {
	case "", "present":
	case "absent":
		if m.Params != "" {
			return errors.New("params are used only with state: present: remove them")
		}
	default:
		return fmt.Errorf("state must be present or absent, got %s", decode.Quote(m.State))
	}
	for _, p := range strings.Fields(m.Params) {
		if !validParam.MatchString(p) {
			return fmt.Errorf("params: %s is not name=value (without quotes or backslashes)", decode.Quote(p))
		}
	}
	return nil
}

// status is what the host says of the module: "loaded" (in /proc/modules),
// "builtin", or "" (neither).
const statusScript = `n=%s
if [ -r /proc/modules ] && awk -v n="$n" '$1 == n { f = 1 } END { exit !f }' /proc/modules; then echo loaded; exit; fi
b=/lib/modules/$(uname -r)/modules.builtin
if [ -r "$b" ] && awk -v n="$n" '{ sub(/.*\//, ""); sub(/\.ko.*/, ""); gsub(/-/, "_") } $0 == n { f = 1 } END { exit !f }' "$b"; then echo builtin; exit; fi
if [ -d "/sys/module/$n" ]; then echo builtin; fi
`

func (m *Modprobe) status(ctx context.Context, h *tasks.Host) (string, error) {
	res, err := h.Conn.Run(ctx, fmt.Sprintf(statusScript, tasks.Quote(m.Name)), nil)
	if err != nil {
		return "", fmt.Errorf("read the modules: %w", err)
	}
	if !res.OK() {
		return "", fmt.Errorf("read the modules: %s", res.Failure())
	}
	return strings.TrimSpace(string(res.Stdout)), nil
}

func (m *Modprobe) loadFile() string    { return "/etc/modules-load.d/" + m.Name + ".conf" }
func (m *Modprobe) optionsFile() string { return "/etc/modprobe.d/" + m.Name + ".conf" }

// Check reads the module's state and the files.
func (m *Modprobe) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	st, err := m.status(ctx, h)
	if err != nil {
		return nil, err
	}
	c := &tasks.Change{Result: map[string]any{"status": st}}
	var applies []func(context.Context) (tasks.Done, error)
	if m.Persistent {
		files := map[string]string{m.loadFile(): m.Name + "\n", m.optionsFile(): ""}
		if m.Params != "" {
			files[m.optionsFile()] = "options " + m.Name + " " + m.Params + "\n"
		}
		if m.State == "absent" {
			files[m.loadFile()] = ""
		}
		for _, p := range []string{m.loadFile(), m.optionsFile()} {
			fc, err := planFile(ctx, h, p, files[p])
			if err != nil {
				return nil, err
			}
			c.Summary = append(c.Summary, fc.Summary...)
			c.Diff += fc.Diff
			if fc.Apply != nil {
				applies = append(applies, fc.Apply)
			}
		}
	}
	var cmd, verb string
	switch {
	case m.State != "absent" && st == "":
		c.Summary = append(c.Summary, "+ load "+m.Name)
		verb = "load"
		cmd = "modprobe -- " + tasks.Quote(m.Name)
		for _, p := range strings.Fields(m.Params) {
			cmd += " " + tasks.Quote(p)
		}
	case m.State == "absent" && st == "builtin":
		c.Failure = fmt.Errorf("%s is built into the kernel: it cannot be unloaded", m.Name)
	case m.State == "absent" && st == "loaded":
		c.Summary = append(c.Summary, "- unload "+m.Name)
		verb = "unload"
		cmd = "modprobe -r -- " + tasks.Quote(m.Name)
	}
	if len(applies) == 0 && cmd == "" {
		return c, nil
	}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		for _, apply := range applies {
			if _, err := apply(ctx); err != nil {
				return tasks.Done{}, err
			}
		}
		if cmd != "" {
			if err := tasks.RunOK(ctx, h.Conn, cmd); err != nil {
				return tasks.Done{}, fmt.Errorf("%s %s: %w", verb, m.Name, err)
			}
		}
		return tasks.Done{}, nil
	}
	return c, nil
}

// planFile plans p to hold content, root's and readable by all; "" means
// no file. A missing directory is made first.
func planFile(ctx context.Context, h *tasks.Host, p, content string) (*tasks.Change, error) {
	fi, err := hostfile.Stat(ctx, h.Conn, p, hostfile.WantHash)
	if err != nil {
		return nil, err
	}
	if content == "" {
		if !fi.Exists {
			return tasks.NoChange(), nil
		}
		return &tasks.Change{Summary: []string{"- remove " + p}, Apply: func(ctx context.Context) (tasks.Done, error) {
			return tasks.Done{}, tasks.RunOK(ctx, h.Conn, "rm -f -- "+tasks.Quote(p))
		}}, nil
	}
	mode := hostfile.Mode(0o644)
	spec := hostfile.Spec{Path: p, Content: hostfile.Bytes([]byte(content)), Mode: &mode, Owner: "0", Group: "0"}
	return hostfile.PlanMakingDir(ctx, h, spec, fi)
}
