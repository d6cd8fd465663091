// Package file is the `file` task: a file's presence, content, mode and
// ownership, or a directory's, or their absence.
package file

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "file",
		Doc: "A file with the given content, mode and owner; a directory (with recurse, everything under it too); a symlink; or nothing at a path. Content is compared by SHA-256 and written atomically (temporary file, then rename). " +
			"Symlinks are read (readlink), never followed.",
		New: func() tasks.Task { return new(File) },
	})
}

// File is the `file` task's parameters.
type File struct {
	Path    string         `yaml:"path" required:"true" doc:"absolute path on the host"`
	State   string         `yaml:"state" doc:"present (default): a regular file; directory; link: a symlink to src; touch: a regular file, created empty when missing (its content and times are left alone, so a second run reports ok; present without content does the same); or absent (a directory is removed with its contents)"`
	Content *string        `yaml:"content" doc:"the file's whole content; when not given an existing file's content is left alone and a missing file is created empty"`
	Mode    *hostfile.Mode `yaml:"mode" doc:"permissions in octal, e.g. 0644; default: left alone, 0644 for a new file, 0755 for a new directory"`
	Owner   string         `yaml:"owner" doc:"owning user, by name or number; default: left alone"`
	Group   string         `yaml:"group" doc:"owning group, by name or number; default: left alone"`
	Src     string         `yaml:"src" doc:"state: link: what the link points to, stored as written (absolute, or relative to the link's directory); it need not exist. The link's own mode and owner are not managed (nobody's access depends on them)"`
	Force   bool           `yaml:"force" doc:"state: link: replace a file (not a directory) that is in the way; without it that is an error. A link to elsewhere is always replaced"`
	Recurse bool           `yaml:"recurse" doc:"state: directory: give owner, group and mode to every directory and regular file under it too (mode alike to both, as chmod -R does); symlinks under it are neither followed nor changed, nor are special files"`
}

// Validate checks the parameters against each other.
func (f *File) Validate() error {
	if !path.IsAbs(f.Path) {
		return fmt.Errorf("path %s must be absolute", decode.Quote(f.Path))
	}
	if path.Clean(f.Path) == "/" {
		return errors.New(`path "/" cannot be managed`)
	}
	st := f.state()
	switch st {
	case "present":
	case "touch", "directory", "absent", "link":
		if f.Content != nil {
			return fmt.Errorf("content goes with state: present, not %s", st)
		}
	default:
		return fmt.Errorf("state must be present, directory, link, touch or absent, got %s", decode.Quote(f.State))
	}
	switch {
	case st == "absent" && (f.Mode != nil || f.Owner != "" || f.Group != ""):
		return errors.New("mode, owner and group do not apply to state: absent")
	case st == "link" && f.Src == "":
		return errors.New("state: link needs src, the path the link points to")
	case st == "link" && (f.Mode != nil || f.Owner != "" || f.Group != ""):
		// Nobody's access depends on a symlink's own: the target's count.
		return errors.New("mode, owner and group do not apply to state: link; set them on the link's target")
	case st != "link" && f.Src != "":
		return fmt.Errorf("src goes with state: link, not %s (to copy a file from the controller, use the copy task)", st)
	case st != "link" && f.Force:
		return fmt.Errorf("force goes with state: link, not %s", st)
	case st != "directory" && f.Recurse:
		return fmt.Errorf("recurse goes with state: directory, not %s", st)
	case f.Recurse && f.Mode == nil && f.Owner == "" && f.Group == "":
		return errors.New("recurse needs owner, group or mode to give to everything under the directory")
	}
	return nil
}

func (f *File) state() string {
	if f.State == "" {
		return "present"
	}
	return f.State
}

// Check compares the path on the host with the parameters in one command,
// reading the old content only when a diff is asked for and it differs.
func (f *File) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	p := path.Clean(f.Path)
	switch f.state() {
	case "link":
		return f.link(ctx, h, p)
	case "present", "touch":
		spec := hostfile.Spec{Path: p, Mode: f.Mode, Owner: f.Owner, Group: f.Group}
		if f.Content != nil {
			spec.Content = hostfile.Bytes([]byte(*f.Content))
		}
		return hostfile.Plan(ctx, h, spec)
	}
	fi, err := hostfile.Stat(ctx, h.Conn, p, hostfile.WantNamesFor(f.Owner, f.Group))
	if err != nil {
		return nil, err
	}
	switch f.state() {
	case "absent":
		if !fi.Exists {
			return tasks.NoChange(), nil
		}
		return &tasks.Change{
			Summary: []string{fmt.Sprintf("- remove %s %s", fi.Type, p)},
			Apply: func(ctx context.Context) (tasks.Done, error) {
				return tasks.Done{}, tasks.RunOK(ctx, h.Conn, "rm -rf -- "+tasks.Quote(p))
			},
		}, nil
	}
	return f.directory(ctx, h, p, fi)
}

func (f *File) directory(ctx context.Context, h *tasks.Host, p string, fi *hostfile.Info) (*tasks.Change, error) {
	if fi.Exists && fi.Type != "directory" {
		return nil, tasks.DependsOnEarlier(fmt.Errorf("%s is a %s, not a directory: remove it first (state: absent)", p, fi.Type))
	}
	c := &tasks.Change{}
	var cmds []string
	walk := "" // the command that changes what is under p
	owner, group := hostfile.Ownership(c, p, fi, f.Owner, f.Group)
	if !fi.Exists {
		mode := hostfile.Mode(0o755)
		if f.Mode != nil {
			mode = *f.Mode
		}
		c.Summary = append(c.Summary, fmt.Sprintf("+ create directory %s (%s)", p, mode))
		// Made private, then given its mode and owner without following
		// whatever another user may have put in its place meanwhile.
		made := &hostfile.Info{Exists: true, Type: "directory", ParentTrusted: fi.ParentTrusted}
		cmds = append(cmds, fmt.Sprintf("mkdir -p -- %s\nmkdir -m 0700 -- %s", tasks.Quote(path.Dir(p)), tasks.Quote(p)),
			hostfile.AttrsCommand(p, made, owner, group, &mode))
	} else {
		var mode *hostfile.Mode
		if f.Mode != nil && fi.Mode != *f.Mode {
			c.Summary = append(c.Summary, fmt.Sprintf("~ mode %s -> %s", fi.Mode, *f.Mode))
			mode = f.Mode
		} else if (owner != "" || group != "") && fi.Mode&0o6000 != 0 {
			mode = &fi.Mode // chown clears setuid and setgid
		}
		if cmd := hostfile.AttrsCommand(p, fi, owner, group, mode); cmd != "" {
			cmds = append(cmds, cmd)
		}
		if f.Recurse {
			summary, cmd, err := f.recurse(ctx, h, p)
			if err != nil {
				return nil, err
			}
			if cmd != "" {
				c.Summary = append(c.Summary, summary)
				walk = cmd
			}
		}
	}
	if len(cmds) > 0 || walk != "" {
		c.Apply = func(ctx context.Context) (tasks.Done, error) {
			// Each on its own: AttrsCommand may end in exec.
			if len(cmds) > 0 {
				if err := tasks.RunOK(ctx, h.Conn, "set -e\n"+strings.Join(cmds, "\n")); err != nil {
					return tasks.Done{}, err
				}
			}
			if walk == "" {
				return tasks.Done{}, nil
			}
			res, err := h.Conn.Run(ctx, walk, nil)
			if err == nil && !res.OK() {
				err = errors.New(res.Failure())
			}
			if err != nil {
				return tasks.Done{}, fmt.Errorf("change what is under %s: %w", p, err)
			}
			return tasks.Done{}, nil
		}
	}
	return c, nil
}
