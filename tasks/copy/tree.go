package copy

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

// local is a directory or regular file under a directory src on the
// controller.
type local struct {
	rel  string // slash-separated, from src
	path string // on the controller
	dir  bool
}

// walk lists what is under root, parents before what they hold. A
// symlink to a regular file is copied as that file; any other symlink,
// and anything but directories and regular files, is an error: copying a
// tree should not wander out of it, nor send a device's content.
func walk(root string) ([]local, error) {
	var out []local
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		switch t := d.Type(); {
		case t.IsDir():
			out = append(out, local{rel: rel, path: p, dir: true})
		case t.IsRegular():
			out = append(out, local{rel: rel, path: p})
		case t&fs.ModeSymlink != 0:
			st, err := os.Stat(p)
			if err != nil {
				return err
			}
			if !st.Mode().IsRegular() {
				return fmt.Errorf("%s is a symlink to a %s: copy follows only symlinks to regular files", p, map[bool]string{true: "directory", false: "special file"}[st.IsDir()])
			}
			out = append(out, local{rel: rel, path: p})
		default:
			return fmt.Errorf("%s is not a regular file nor a directory", p)
		}
		return nil
	})
	return out, err
}

// tree plans copying what the directory src holds into the directory
// dest: each file as a copy of its own (compared, written, validated and
// backed up as one file is), and each directory dest lacks created with
// directory_mode, owner and group. What dest holds beyond src is left
// alone, and so are the directories it has already.
func (c *Copy) tree(ctx context.Context, h *tasks.Host, src string) (*tasks.Change, error) {
	entries, err := walk(src)
	if err != nil {
		return nil, fmt.Errorf("copy source: %w", err)
	}
	dest := path.Clean(c.Dest)
	top, err := hostfile.Stat(ctx, h.Conn, dest, hostfile.WantNamesFor(c.Owner, c.Group))
	switch {
	case err != nil:
		return nil, err
	case top.Exists && top.Type != "directory":
		return nil, tasks.DependsOnEarlier(fmt.Errorf("%s is a %s, not a directory: remove it first (file with state: absent)", dest, top.Type))
	case !top.ParentDir:
		return nil, tasks.DependsOnEarlier(fmt.Errorf("directory %s does not exist: create it first (file with state: directory)", path.Dir(dest)))
	}
	files := map[string]bool{}
	for _, e := range entries {
		files[e.rel] = !e.dir
	}
	var host map[string]*hostfile.Info
	if top.Exists {
		host, err = hostfile.Tree(ctx, h.Conn, dest, func(rel string, _ *hostfile.Info) bool { return files[rel] })
		if err != nil {
			return nil, err
		}
	}
	dmode := hostfile.Mode(0o755)
	if c.DirectoryMode != nil {
		dmode = *c.DirectoryMode
	}
	change := &tasks.Change{}
	var mkdirs []string
	mkdir := func(p string, parentTrusted bool) {
		change.Summary = append(change.Summary, fmt.Sprintf("+ create directory %s (%s)", p, dmode))
		// Made private, then given its mode and owner through a
		// descriptor; in a subshell, as AttrsCommand may end in exec.
		made := &hostfile.Info{Exists: true, Type: "directory", ParentTrusted: parentTrusted}
		mkdirs = append(mkdirs, "mkdir -m 0700 -- "+tasks.Quote(p), "(\n"+hostfile.AttrsCommand(p, made, c.Owner, c.Group, &dmode)+"\n)")
	}
	if !top.Exists {
		mkdir(dest, top.ParentTrusted)
	}
	var diffs []string
	// Each file's change, and where its lines are in the summary.
	type write struct {
		p        string
		from, to int
		apply    func(context.Context) (tasks.Done, error)
	}
	var writes []write
	for _, e := range entries {
		p := path.Join(dest, e.rel)
		now := host[e.rel]
		if now == nil {
			// Missing: in a directory that is there, or that is made
			// first (by root, but given to owner: not trusted).
			parent := host[parentOf(e.rel)]
			now = &hostfile.Info{ParentDir: true, ParentTrusted: parent != nil && parent.UID == "0" && parent.Mode&0o022 == 0}
		}
		if e.dir {
			switch {
			case !now.Exists:
				mkdir(p, now.ParentTrusted)
			case now.Type != "directory":
				return nil, tasks.DependsOnEarlier(fmt.Errorf("%s is a %s, not a directory: remove it first (file with state: absent)", p, now.Type))
			}
			continue
		}
		content, err := hostfile.LocalFile(e.path)
		if err != nil {
			return nil, fmt.Errorf("copy source: %w", err)
		}
		spec := hostfile.Spec{Path: p, Content: content, Mode: c.Mode, Owner: c.Owner, Group: c.Group, Validate: c.ValidateCmd, Backup: c.Backup}
		fc, err := hostfile.PlanAt(ctx, h, spec, now)
		if err != nil {
			return nil, err
		}
		if fc.Apply == nil {
			continue
		}
		start := len(change.Summary)
		change.Summary = append(change.Summary, naming(fc.Summary, p)...)
		writes = append(writes, write{p: p, from: start, to: len(change.Summary), apply: fc.Apply})
		if fc.Diff != "" {
			diffs = append(diffs, fc.Diff)
		}
	}
	change.Diff = strings.Join(diffs, "")
	if len(mkdirs) == 0 && len(writes) == 0 {
		return change, nil
	}
	change.Apply = func(ctx context.Context) (tasks.Done, error) {
		var done tasks.Done
		if len(mkdirs) > 0 {
			if err := tasks.RunOK(ctx, h.Conn, "set -e\n"+strings.Join(mkdirs, "\n")); err != nil {
				return done, fmt.Errorf("create directories under %s: %w", dest, err)
			}
		}
		var backups []string
		for _, w := range writes {
			d, err := w.apply(ctx)
			if b, ok := d.Result["backup_file"].(string); ok {
				backups = append(backups, b)
				if done.Summary == nil {
					done.Summary = slices.Clone(change.Summary)
				}
				// Only doing it names the backup.
				copy(done.Summary[w.from:w.to], naming(d.Summary, w.p))
				done.Result = map[string]any{"backup_files": backups}
			}
			if err != nil {
				if r := d.Result; r != nil && r["rc"] != nil {
					return tasks.Done{Summary: done.Summary, Result: r}, err
				}
				return done, err
			}
		}
		return done, nil
	}
	return change, nil
}

// naming says in each line of a file's summary which file it is about,
// when the line does not: "~ mode 0600 -> 0644" becomes
// "~ /etc/app/a.conf: mode 0600 -> 0644".
func naming(summary []string, p string) []string {
	out := make([]string, len(summary))
	for i, l := range summary {
		if !strings.Contains(l, p) && len(l) > 2 {
			l = l[:2] + p + ": " + l[2:]
		}
		out[i] = l
	}
	return out
}

// parentOf is the directory rel is in, relative as rel is ("" for the top).
func parentOf(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}
