package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/tasks"
)

// A write by name goes through every directory above the file: whoever
// can replace an entry on that way can point the write elsewhere while it
// runs (a directory swapped for a symlink between two steps of the
// write), and a root write lands where that user chose. So, before
// anything is written, every directory the way passes through must be
// one that nobody else can change: owned by root or the writer, writable
// by neither its group nor others (a directory with an ACL shows the ACL's
// mask as its group bits), unless sticky, where an entry can be replaced
// only by its owner, who must then be root or the writer. Symlinks on the
// way are followed, and where they lead is held to the same rule.
//
// The file's own directory is not held to it: whoever may write there can
// only replace entries of that directory (the file itself, which they
// could do after the write anyway), never point the write elsewhere. The
// temporary file is made with O_EXCL and given its owner and mode through
// its descriptor; the rename replaces the file's entry, never follows it.

// errSwappable marks a write refused by that rule.
var errSwappable = tasks.ErrUnsafeWay

// maxLinks is how many symlinks a path may go through, as Linux's
// MAXSYMLINKS.
const maxLinks = 40

// checkWay checks the way to dir, an absolute, clean path, for fsys's
// writer; with missingOK, a way that ends early in a missing directory
// passes as far as it goes.
func checkWay(fsys fileSystem, dir string, missingOK bool) error {
	writer := fsys.uid()
	trusted := func(uid int) bool { return uid == 0 || writer >= 0 && uid == writer }
	lstat := func(p string) (fs.FileInfo, error) {
		fi, err := fsys.lstat(p)
		if err != nil {
			return nil, fmt.Errorf("lstat %s: %w", p, err)
		}
		return fi, nil
	}
	cur := "/"
	st, err := lstat(cur)
	if err != nil {
		return err
	}
	todo := strings.Split(dir, "/")
	for links := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			// An ancestor of cur, passed through on the way down to it.
			cur = path.Dir(cur)
			if st, err = lstat(cur); err != nil {
				return err
			}
			continue
		}
		next := path.Join(cur, name)
		entry, err := lstat(next)
		if missingOK && errors.Is(err, fs.ErrNotExist) {
			// A check asked before an earlier step makes it: the write
			// checks again, and fails on what is still missing.
			return nil
		}
		if err != nil {
			return err
		}
		if err := holds(st, cur, trusted, entry); err != nil {
			return err
		}
		if entry.Mode()&fs.ModeSymlink != 0 {
			if links++; links > maxLinks {
				return fmt.Errorf("%s: too many levels of symbolic links", dir)
			}
			target, err := fsys.readlink(next)
			if err != nil {
				return fmt.Errorf("readlink %s: %w", next, err)
			}
			if path.IsAbs(target) {
				cur = "/"
				if st, err = lstat(cur); err != nil {
					return err
				}
			}
			todo = append(strings.Split(target, "/"), todo...)
			continue
		}
		if !entry.IsDir() {
			return fmt.Errorf("%s is not a directory", next)
		}
		cur, st = next, entry
	}
	return nil
}

// holds tells whether directory d, at p, lets nobody but those trusted
// replace its entry e.
func holds(d fs.FileInfo, p string, trusted func(int) bool, e fs.FileInfo) error {
	uid, _, ok := owner(d)
	if !ok {
		return fmt.Errorf("%s: the host gave no owner", p)
	}
	mode := d.Mode()
	if mode&fs.ModeSticky != 0 {
		// Only the entry's owner (or the directory's) may replace it.
		eu, _, ok := owner(e)
		switch {
		case !ok:
			return fmt.Errorf("%s: the host gave no owner", path.Join(p, e.Name()))
		case !trusted(eu):
			return fmt.Errorf("%s %w: it is uid %d's, in sticky %s; make it root's", path.Join(p, e.Name()), errSwappable, eu, p)
		}
	}
	switch {
	case !trusted(uid):
		return fmt.Errorf("%s %w: it is uid %d's; make it root's, or write as that user (become_user)", p, errSwappable, uid)
	case mode&fs.ModeSticky != 0:
		return nil
	case mode.Perm()&0o002 != 0:
		return fmt.Errorf("%s %w: everyone may write it; chmod o-w it (or +t, as /tmp)", p, errSwappable)
	case mode.Perm()&0o020 != 0:
		return fmt.Errorf("%s %w: its group (or an ACL) may write it; chmod g-w it, or remove the ACL", p, errSwappable)
	}
	return nil
}

// checkPath is the check writeFile makes before anything is written: p is
// absolute, without "..", and its way holds (checkWay, with missingOK for
// a check that writes nothing).
func checkPath(fsys fileSystem, p string, missingOK bool) error {
	// What is checked is what the rename goes through: no ".." the check
	// would clean away while the kernel follows what is before it.
	if !path.IsAbs(p) || slices.Contains(strings.Split(p, "/"), "..") {
		return fmt.Errorf("write %s: not an absolute path without ..", p)
	}
	if err := checkWay(fsys, path.Dir(p), missingOK); err != nil {
		if errors.Is(err, errSwappable) {
			return fmt.Errorf("write %s: %w", p, err)
		}
		return fmt.Errorf("write %s: check the directories on its way: %w", p, err)
	}
	return nil
}
