package transport

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"syscall"

	"github.com/pkg/sftp"
)

// A write by name goes through every directory above the file: whoever
// can replace an entry on that way can point the write elsewhere while it
// runs (a directory swapped for a symlink between two steps of the
// write), and a root write lands where that user chose. So, before
// anything is written, every directory on the way must be one that
// nobody else can change: owned by root or the writer, and writable by
// no group but root's and not by others, unless sticky (where an entry
// can be replaced only by its owner, who must be root or the writer).
// The file's own directory may also belong to the file's owner, who
// could write the file anyway. Symlinks on the way are followed, and
// what they point to is held to the same rule. This is the rule
// logrotate and systemd-tmpfiles follow for the same reason.

// errSwappable marks a write refused by that rule.
var errSwappable = errors.New("is swappable")

// maxLinks is how many symlinks a path may go through, as Linux's
// MAXSYMLINKS.
const maxLinks = 40

// checkWay checks dir, where a file owned by owner (-1: the writer) is
// to be written by fsys's writer.
func checkWay(fsys fileSystem, dir string, owner int) error {
	writer := fsys.uid()
	if owner < 0 {
		owner = writer
	}
	trusted := func(uid int) bool { return uid == 0 || writer >= 0 && uid == writer }

	cur := "/"
	if !path.IsAbs(dir) {
		// A relative path starts at the writer's working directory,
		// which is held by its inode: only it and below count.
		cur = "."
	}
	st, err := fsys.lstat(cur)
	if err != nil {
		return err
	}
	todo := strings.Split(dir, "/")
	for links := 0; len(todo) > 0; {
		name := todo[0]
		todo = todo[1:]
		if name == "" || name == "." {
			continue
		}
		if name == ".." {
			if cur == "." {
				return fmt.Errorf("%s: a relative path that climbs above the working directory", dir)
			}
			// An ancestor of cur: checked on the way down to it.
			cur = path.Dir(cur)
			if st, err = fsys.lstat(cur); err != nil {
				return err
			}
			continue
		}
		next := path.Join(cur, name)
		entry, err := fsys.lstat(next)
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
				return err
			}
			if path.IsAbs(target) {
				cur = "/"
				if st, err = fsys.lstat(cur); err != nil {
					return err
				}
			}
			todo = append(strings.Split(target, "/"), todo...)
			continue
		}
		if !entry.IsDir() {
			return fmt.Errorf("%s: %s is not a directory", dir, next)
		}
		cur, st = next, entry
	}
	// The file's own directory: its owner may also be the file's.
	return holds(st, cur, func(uid int) bool { return trusted(uid) || uid == owner }, nil)
}

// holds tells whether directory d (at p) lets nobody but those trusted
// replace its entry e (nil: any entry of its).
func holds(d fs.FileInfo, p string, trusted func(int) bool, e fs.FileInfo) error {
	uid, gid, ok := owner(d)
	if !ok {
		return fmt.Errorf("%s: the host gave no owner", p)
	}
	mode := d.Mode()
	sticky := mode&fs.ModeSticky != 0 || rawMode(d)&0o1000 != 0
	if sticky && e != nil {
		// Only the entry's owner (or the directory's) may replace it.
		if eu, _, ok := owner(e); !ok || !trusted(eu) {
			return fmt.Errorf("%s %w: its entry %s is uid %d's, in a sticky directory", p, errSwappable, path.Base(e.Name()), eu)
		}
	}
	switch {
	case !trusted(uid):
		return fmt.Errorf("%s %w: it is uid %d's", p, errSwappable, uid)
	case mode.Perm()&0o002 != 0 && !sticky:
		return fmt.Errorf("%s %w: everyone may write it", p, errSwappable)
	case mode.Perm()&0o020 != 0 && gid != 0 && !sticky:
		return fmt.Errorf("%s %w: group gid %d may write it", p, errSwappable, gid)
	}
	return nil
}

// rawMode is the st_mode the host gave, which says sticky even where the
// SFTP client's fs.FileMode does not.
func rawMode(fi fs.FileInfo) uint32 {
	switch st := fi.Sys().(type) {
	case *sftp.FileStat:
		return st.Mode
	case *syscall.Stat_t:
		return st.Mode
	}
	return 0
}
