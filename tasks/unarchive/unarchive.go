// Package unarchive is the `unarchive` task: an archive's members made
// what dest holds, each checked against what is there.
package unarchive

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "unarchive",
		Doc: "Extracts a .tar, .tar.gz, .tgz, .tar.xz, .txz or .zip archive, from the controller or (remote_src) already on the host, into dest, a directory that must exist. " +
			"Each member is compared with what dest holds (type, content by SHA-256, mode, symbolic link target, owner and group when given): check mode says which would change, " +
			"and a run places exactly those, so a second run reports ok; what dest holds beyond the archive is left alone. " +
			"An archive with an absolute path, a .. in a name, a link that points outside dest, or a device is refused before anything is written. " +
			"The members are extracted (by tar on the host) into a private directory beside dest and moved into place one by one, never through a symbolic link found in dest: " +
			"one where the archive has a file or directory is replaced. A hard link is extracted as a copy. Needs GNU tar on the host.",
		New: func() tasks.Task { return new(Unarchive) },
	})
}

// Unarchive is the `unarchive` task's parameters.
type Unarchive struct {
	Src       string `yaml:"src" required:"true" doc:"the archive: a file on the controller, relative to the runbook; with remote_src, an absolute path on the host. Its name's ending says its format"`
	Dest      string `yaml:"dest" required:"true" doc:"absolute path of the directory on the host to extract into; it must exist"`
	RemoteSrc bool   `yaml:"remote_src" doc:"src is on the host (it is read by the controller to compare it with dest)"`
	Creates   string `yaml:"creates" doc:"absolute path on the host: when it exists, nothing is extracted or compared"`
	Owner     string `yaml:"owner" doc:"owner of what is extracted (name or uid); default: the connection's user"`
	Group     string `yaml:"group" doc:"group of what is extracted (name or gid)"`
}

// Validate checks the parameters.
func (u *Unarchive) Validate() error {
	if !path.IsAbs(u.Dest) {
		return fmt.Errorf("dest %s must be absolute", decode.Quote(u.Dest))
	}
	if u.RemoteSrc && !path.IsAbs(u.Src) {
		return fmt.Errorf("src %s must be absolute with remote_src (a file on the host)", decode.Quote(u.Src))
	}
	if u.Creates != "" && !path.IsAbs(u.Creates) {
		return fmt.Errorf("creates %s must be absolute", decode.Quote(u.Creates))
	}
	if _, err := format(u.Src); err != nil {
		return fmt.Errorf("src: %w", err)
	}
	for _, s := range []string{u.Owner, u.Group} {
		if strings.ContainsAny(s, ": \n") {
			return fmt.Errorf("owner and group are a name or a number, got %s", decode.Quote(s))
		}
	}
	return nil
}

// ControllerFiles is src, unless it is on the host.
func (u *Unarchive) ControllerFiles() []tasks.ControllerFile {
	if u.RemoteSrc {
		return nil
	}
	return []tasks.ControllerFile{{Param: "src", Path: u.Src}}
}

// Check compares the archive's members with dest.
func (u *Unarchive) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	if u.Creates != "" {
		fi, err := hostfile.Stat(ctx, h.Conn, u.Creates, 0)
		if err != nil {
			return nil, err
		}
		if fi.Exists {
			return &tasks.Change{Result: map[string]any{"skip_reason": u.Creates + " exists"}}, nil
		}
	}
	dir, err := hostfile.Stat(ctx, h.Conn, u.Dest, 0)
	if err != nil {
		return nil, err
	}
	if !dir.Exists || dir.Type != "directory" {
		return nil, tasks.DependsOnEarlier(fmt.Errorf("dest %s is not a directory on %s: make it first (file, state: directory)", u.Dest, h.Name))
	}
	file, cleanup, err := u.archive(ctx, h)
	if err != nil {
		return nil, err
	}
	ms, err := list(file)
	if err != nil {
		cleanup()
		return nil, err
	}
	have, err := hostfile.Tree(ctx, h.Conn, u.Dest, func(rel string, fi *hostfile.Info) bool { return true })
	if err != nil {
		cleanup()
		return nil, err
	}
	links, err := u.linkTargets(ctx, h, ms, have)
	if err != nil {
		cleanup()
		return nil, err
	}
	summary, place, dirs := u.compare(ms, have, links)
	if len(summary) == 0 {
		cleanup()
		return &tasks.Change{Result: map[string]any{"dest": u.Dest}}, nil
	}
	return &tasks.Change{
		Summary: summary,
		Apply: func(ctx context.Context) (tasks.Done, error) {
			defer cleanup()
			return tasks.Done{Result: map[string]any{"dest": u.Dest}}, u.extract(ctx, h, file, ms, place, dirs)
		},
	}, nil
}

// archive is the archive as a file on the controller: src, or a copy of
// it read from the host.
func (u *Unarchive) archive(ctx context.Context, h *tasks.Host) (string, func(), error) {
	if !u.RemoteSrc {
		src := u.Src
		if !filepath.IsAbs(src) {
			src = filepath.Join(h.Dir, src)
		}
		return src, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "runbook-unarchive-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	// The copy keeps src's name: its ending says the format.
	f, err := os.Create(filepath.Join(dir, path.Base(u.Src)))
	if err == nil {
		err = h.Conn.ReadFile(ctx, u.Src, f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		cleanup()
		err = fmt.Errorf("read %s on %s: %w", u.Src, h.Name, err)
		if errors.Is(err, fs.ErrNotExist) {
			err = tasks.DependsOnEarlier(err) // an earlier step may fetch it
		}
		return "", nil, err
	}
	return f.Name(), cleanup, nil
}

// linkTargets reads where the symbolic links in dest that the archive
// also has as links point.
func (u *Unarchive) linkTargets(ctx context.Context, h *tasks.Host, ms []*member, have map[string]*hostfile.Info) (map[string]string, error) {
	var names []string
	for _, m := range ms {
		if fi := have[m.Name]; m.Type == "symlink" && fi != nil && fi.Type == "symlink" {
			names = append(names, m.Name)
		}
	}
	out := map[string]string{}
	if len(names) == 0 {
		return out, nil
	}
	var b strings.Builder
	b.WriteString("for f in")
	for _, n := range names {
		b.WriteString(" " + tasks.Quote(path.Join(u.Dest, n)))
	}
	b.WriteString("; do readlink -- \"$f\" | tr '\\n' '\\0'; printf '\\0'; done")
	res, err := h.Conn.Run(ctx, b.String(), nil)
	if err != nil || !res.OK() {
		if err == nil {
			err = errors.New(res.Failure())
		}
		return nil, fmt.Errorf("read links under %s: %w", u.Dest, err)
	}
	fields := strings.Split(string(res.Stdout), "\x00")
	for i, n := range names {
		if 2*i < len(fields) {
			out[n] = fields[2*i]
		}
	}
	return out, nil
}

// compare says what differs: place names the files and links to put in
// place, dirs the directories to make or to give their mode and owner.
func (u *Unarchive) compare(ms []*member, have map[string]*hostfile.Info, links map[string]string) (summary []string, place, dirs map[string]bool) {
	place, dirs = map[string]bool{}, map[string]bool{}
	for _, m := range ms {
		fi := have[m.Name]
		var why []string
		switch {
		case fi == nil:
			summary = append(summary, "+ "+m.Name)
			why = append(why, "missing")
		case fi.Type != m.Type:
			why = append(why, fmt.Sprintf("%s, want %s", fi.Type, m.Type))
		case m.Type == "file" && (fi.Size != m.Size || fi.SHA256 != m.SHA256):
			why = append(why, "content")
		case m.Type == "symlink" && links[m.Name] != m.Link:
			why = append(why, fmt.Sprintf("-> %s, want -> %s", links[m.Name], m.Link))
		}
		if fi != nil && len(why) == 0 {
			if m.Type != "symlink" && uint32(fi.Mode) != m.Mode {
				why = append(why, fmt.Sprintf("mode %s -> %04o", fi.Mode, m.Mode))
			}
			if u.Owner != "" && !fi.OwnedBy(u.Owner) {
				why = append(why, fmt.Sprintf("owner %s -> %s", fi.OwnerName(), u.Owner))
			}
			if u.Group != "" && !fi.InGroup(u.Group) {
				why = append(why, fmt.Sprintf("group %s -> %s", fi.GroupName(), u.Group))
			}
		}
		if len(why) == 0 {
			continue
		}
		if fi != nil {
			summary = append(summary, "~ "+m.Name+": "+strings.Join(why, ", "))
		}
		if m.Type == "directory" {
			dirs[m.Name] = true
		} else {
			place[m.Name] = true
		}
	}
	return summary, place, dirs
}
