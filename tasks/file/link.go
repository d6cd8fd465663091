package file

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"strings"

	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

// link plans a symlink at p pointing to f.Src. What is at p is looked at
// with lstat and readlink: a link is never followed, so a check cannot be
// made to read or judge what another user points it at.
func (f *File) link(ctx context.Context, h *tasks.Host, p string) (*tasks.Change, error) {
	fi, err := hostfile.Stat(ctx, h.Conn, p, 0)
	if err != nil {
		return nil, err
	}
	if !fi.ParentDir {
		return nil, tasks.DependsOnEarlier(fmt.Errorf("directory %s does not exist: create it first (file with state: directory)", path.Dir(p)))
	}
	c := &tasks.Change{}
	src := tasks.Quote(f.Src)
	switch {
	case !fi.Exists:
		c.Summary = []string{fmt.Sprintf("+ link %s -> %s", p, f.Src)}
		// -T: p is the link's name even if a directory appears there
		// meanwhile; and ln fails rather than replace what appeared.
		cmd := fmt.Sprintf("ln -sT -- %s %s", src, tasks.Quote(p))
		c.Apply = func(ctx context.Context) (tasks.Done, error) {
			return tasks.Done{}, tasks.RunOK(ctx, h.Conn, cmd)
		}
		return c, nil
	case fi.Type == "symlink":
		old, err := readLink(ctx, h.Conn, p)
		if err != nil {
			return nil, err
		}
		if old == f.Src {
			return c, nil
		}
		c.Summary = []string{fmt.Sprintf("~ link %s -> %s, was -> %s", p, f.Src, old)}
	case fi.Type == "directory":
		return nil, tasks.DependsOnEarlier(fmt.Errorf("%s is a directory, not a link: remove it first (state: absent); force does not replace a directory", p))
	case !f.Force:
		return nil, tasks.DependsOnEarlier(fmt.Errorf("%s is a %s, not a link: give force: true to replace it with the link, or remove it first (state: absent)", p, fi.Type))
	default:
		c.Summary = []string{fmt.Sprintf("~ replace %s %s with a link -> %s", fi.Type, p, f.Src)}
	}
	// The new link is made under a name nobody else can have taken (ln
	// fails on one that exists) and renamed over p: p is replaced at once,
	// never followed, and a directory put there meanwhile is not replaced
	// (mv -T fails on one).
	tmp := tasks.Quote(path.Join(path.Dir(p), ".runbook-link-"+randomHex()))
	cmd := fmt.Sprintf("ln -sT -- %s %[2]s && mv -fT -- %[2]s %[3]s || { rm -f -- %[2]s; exit 1; }", src, tmp, tasks.Quote(p))
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		return tasks.Done{}, tasks.RunOK(ctx, h.Conn, cmd)
	}
	return c, nil
}

// readLink is what the symlink at p holds.
func readLink(ctx context.Context, c tasks.Conn, p string) (string, error) {
	res, err := c.Run(ctx, "readlink -- "+tasks.Quote(p), nil)
	if err != nil {
		return "", fmt.Errorf("read link %s: %w", p, err)
	}
	if !res.OK() {
		return "", fmt.Errorf("read link %s: %s", p, res.Failure())
	}
	// readlink ends the target with a newline, which a target may hold
	// too: only the last is readlink's.
	return strings.TrimSuffix(string(res.Stdout), "\n"), nil
}

func randomHex() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
