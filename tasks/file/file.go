// Package file is the `file` task: a file's presence, content, mode and
// ownership, or a directory's, or their absence.
package file

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "file",
		Doc:  "A file with the given content, mode and owner; a directory; or nothing at a path. Content is compared by SHA-256 and written atomically (temporary file, then rename).",
		New:  func() tasks.Task { return new(File) },
	})
}

// File is the `file` task's parameters.
type File struct {
	Path    string      `yaml:"path" required:"true" doc:"absolute path on the host"`
	State   string      `yaml:"state" doc:"present (default): a regular file; directory; or absent (a directory is removed with its contents)"`
	Content *string     `yaml:"content" doc:"the file's whole content; when not given an existing file's content is left alone and a missing file is created empty"`
	Mode    *tasks.Mode `yaml:"mode" doc:"permissions in octal, e.g. 0644; default: left alone, 0644 for a new file, 0755 for a new directory"`
	Owner   string      `yaml:"owner" doc:"owning user, by name or number; default: left alone"`
	Group   string      `yaml:"group" doc:"owning group, by name or number; default: left alone"`
}

// Validate checks the parameters against each other.
func (f *File) Validate() error {
	if !path.IsAbs(f.Path) {
		return fmt.Errorf("path %q must be absolute", f.Path)
	}
	if path.Clean(f.Path) == "/" {
		return errors.New(`path "/" cannot be managed`)
	}
	switch f.state() {
	case "present":
	case "directory", "absent":
		if f.Content != nil {
			return fmt.Errorf("content goes with state: present, not %s", f.State)
		}
		if f.state() == "absent" && (f.Mode != nil || f.Owner != "" || f.Group != "") {
			return errors.New("mode, owner and group do not apply to state: absent")
		}
	default:
		return fmt.Errorf("state must be present, directory or absent, got %q", f.State)
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
	fi, err := tasks.Stat(ctx, h.Conn, p, f.Content != nil)
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
			Apply: func(ctx context.Context) (map[string]any, error) {
				return nil, run(ctx, h, "rm -rf -- "+tasks.Quote(p))
			},
		}, nil
	case "directory":
		return f.directory(h, p, fi)
	}
	return f.file(ctx, h, p, fi)
}

func (f *File) directory(h *tasks.Host, p string, fi *tasks.FileInfo) (*tasks.Change, error) {
	if fi.Exists && fi.Type != "directory" {
		return nil, fmt.Errorf("%s is a %s, not a directory: remove it first (state: absent)", p, fi.Type)
	}
	c := &tasks.Change{}
	var cmds []string
	if !fi.Exists {
		mode := tasks.Mode(0o755)
		if f.Mode != nil {
			mode = *f.Mode
		}
		c.Summary = append(c.Summary, fmt.Sprintf("+ create directory %s (%s)", p, mode))
		cmds = append(cmds, fmt.Sprintf("mkdir -p -- %[1]s && chmod %[2]s %[1]s", tasks.Quote(p), mode))
	} else if f.Mode != nil && fi.Mode != *f.Mode {
		c.Summary = append(c.Summary, fmt.Sprintf("~ mode %s -> %s", fi.Mode, *f.Mode))
		cmds = append(cmds, fmt.Sprintf("chmod %s %s", *f.Mode, tasks.Quote(p)))
	}
	cmds = append(cmds, f.ownership(c, p, fi)...)
	if len(cmds) > 0 {
		c.Apply = func(ctx context.Context) (map[string]any, error) { return nil, run(ctx, h, strings.Join(cmds, " && ")) }
	}
	return c, nil
}

func (f *File) file(ctx context.Context, h *tasks.Host, p string, fi *tasks.FileInfo) (*tasks.Change, error) {
	if fi.Exists && fi.Type != "file" {
		return nil, fmt.Errorf("%s is a %s, not a regular file: remove it first (state: absent)", p, fi.Type)
	}
	if !fi.ParentDir {
		return nil, fmt.Errorf("directory %s does not exist: create it first with a file step (state: directory)", path.Dir(p))
	}
	c := &tasks.Change{}
	mode := fi.Mode
	if f.Mode != nil {
		mode = *f.Mode
	} else if !fi.Exists {
		mode = 0o644
	}
	write := !fi.Exists
	var content []byte
	if f.Content != nil {
		content = []byte(*f.Content)
		sum := sha256.Sum256(content)
		want := hex.EncodeToString(sum[:])
		switch {
		case !fi.Exists:
			c.Summary = append(c.Summary, fmt.Sprintf("+ create %s (%d bytes, %s)", p, len(content), mode))
		case fi.SHA256 != want:
			c.Summary = append(c.Summary, fmt.Sprintf("~ content %s: sha256 %.12s -> %.12s (%d -> %d bytes)", p, fi.SHA256, want, fi.Size, len(content)))
			write = true
		}
		if write && h.Diff {
			diff, err := tasks.ContentDiff(ctx, h.Conn, p, fi, content)
			if err != nil {
				return nil, err
			}
			c.Diff = diff
		}
	} else if !fi.Exists {
		c.Summary = append(c.Summary, fmt.Sprintf("+ create empty %s (%s)", p, mode))
	}
	var cmds []string
	if fi.Exists && mode != fi.Mode {
		c.Summary = append(c.Summary, fmt.Sprintf("~ mode %s -> %s", fi.Mode, mode))
		if !write {
			cmds = append(cmds, fmt.Sprintf("chmod %s %s", mode, tasks.Quote(p)))
		}
	}
	if write && mode.Perm() != fs.FileMode(mode) {
		// setuid, setgid and sticky bits do not survive the upload.
		cmds = append(cmds, fmt.Sprintf("chmod %s %s", mode, tasks.Quote(p)))
	}
	cmds = append(cmds, f.ownership(c, p, fi)...)
	if !write && len(cmds) == 0 {
		return c, nil
	}
	c.Apply = func(ctx context.Context) (map[string]any, error) {
		if write {
			if err := h.Conn.WriteFile(ctx, p, strings.NewReader(string(content)), mode.Perm()); err != nil {
				return nil, err
			}
		}
		if len(cmds) == 0 {
			return nil, nil
		}
		return nil, run(ctx, h, strings.Join(cmds, " && "))
	}
	return c, nil
}

// ownership adds the chown a path needs, if any.
func (f *File) ownership(c *tasks.Change, p string, fi *tasks.FileInfo) []string {
	owner, group := "", ""
	if f.Owner != "" && (!fi.Exists || !fi.OwnedBy(f.Owner)) {
		owner = f.Owner
		if fi.Exists {
			c.Summary = append(c.Summary, fmt.Sprintf("~ owner %s -> %s", fi.Owner, f.Owner))
		}
	}
	if f.Group != "" && (!fi.Exists || !fi.InGroup(f.Group)) {
		group = f.Group
		if fi.Exists {
			c.Summary = append(c.Summary, fmt.Sprintf("~ group %s -> %s", fi.Group, f.Group))
		}
	}
	if owner == "" && group == "" {
		return nil
	}
	spec := owner
	if group != "" {
		spec += ":" + group
	}
	return []string{"chown " + tasks.Quote(spec) + " " + tasks.Quote(p)}
}

func run(ctx context.Context, h *tasks.Host, cmd string) error {
	res, err := h.Conn.Run(ctx, cmd, nil)
	if err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("%s: %s", cmd, res.Failure())
	}
	return nil
}
