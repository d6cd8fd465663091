// Package copy is the `copy` task: a file from the controller, or inline
// content, at a path on the host.
package copy

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "copy",
		Doc: "Copies a file from the controller (or inline content) to the host. Compared by SHA-256, so an unchanged file is not sent; " +
			"large files are streamed, never held in memory; the new file replaces the old atomically, after a validate command has approved it and a backup of the old one is kept, when asked.",
		New: func() tasks.Task { return new(Copy) },
	})
}

// Copy is the `copy` task's parameters.
type Copy struct {
	Src           string         `yaml:"src" doc:"file on the controller, relative to the runbook's directory; or a directory, written with a trailing slash (files/), whose files and directories are copied under dest, each file as a copy of its own (a symlink in it is copied as the regular file it points to; to a directory, it is an error); or give content"`
	Content       *string        `yaml:"content" doc:"the file's content, instead of src"`
	Dest          string         `yaml:"dest" required:"true" doc:"absolute path on the host; for a directory src, the directory the files go in (created when missing; what it holds beyond src is left alone)"`
	Mode          *hostfile.Mode `yaml:"mode" doc:"permissions in octal; default: left alone, 0644 for a new file. For a directory src, of every file"`
	Owner         string         `yaml:"owner" doc:"owning user; default: left alone (root, or the SSH user, for a new file). For a directory src, of every file and of the directories it creates"`
	Group         string         `yaml:"group" doc:"owning group; default: left alone. For a directory src, as owner"`
	DirectoryMode *hostfile.Mode `yaml:"directory_mode" doc:"for a directory src: the permissions of the directories it creates (default 0755); those there already are left alone"`
	ValidateCmd   string         `yaml:"validate" doc:"a command that checks new content before it replaces the file, %s its path, e.g. sshd -t -f %s or visudo -cf %s; it runs on a copy in a private temporary directory on the host (not beside dest), and when it fails the file is left as it was and the step fails with its output. Not run in check mode"`
	Backup        bool           `yaml:"backup" doc:"before new content replaces the file, keep the old one beside it as DEST.<time>~ (UTC), with its mode and owner; its path is registered as backup_file (for a directory src, the list backup_files)"`
}

// Validate checks the parameters.
func (c *Copy) Validate() error {
	if (c.Src == "") == (c.Content == nil) {
		return errors.New("give either src or content")
	}
	if !path.IsAbs(c.Dest) {
		return fmt.Errorf("dest %s must be absolute", decode.Quote(c.Dest))
	}
	if c.DirectoryMode != nil && !c.srcDir() {
		return errors.New("directory_mode goes with a directory src, written with a trailing slash (src: files/)")
	}
	return hostfile.CheckValidate(c.ValidateCmd)
}

// srcDir says src names a directory, by its trailing slash.
func (c *Copy) srcDir() bool {
	return strings.HasSuffix(c.Src, "/")
}

// ControllerFiles is src, when given.
func (c *Copy) ControllerFiles() []tasks.ControllerFile {
	if c.Src == "" {
		return nil
	}
	return []tasks.ControllerFile{{Param: "src", Path: c.Src, Dir: true}}
}

// Check compares the host's file with the source.
func (c *Copy) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	spec := hostfile.Spec{Path: c.Dest, Mode: c.Mode, Owner: c.Owner, Group: c.Group, Validate: c.ValidateCmd, Backup: c.Backup}
	if c.Content != nil {
		spec.Content = hostfile.Bytes([]byte(*c.Content))
	} else {
		src := c.Src
		if !filepath.IsAbs(src) {
			src = filepath.Join(h.Dir, src)
		}
		if c.srcDir() {
			return c.tree(ctx, h, src)
		}
		content, err := hostfile.LocalFile(src)
		if err != nil {
			return nil, fmt.Errorf("copy source: %w", err)
		}
		spec.Content = content
	}
	return hostfile.Plan(ctx, h, spec)
}
