package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pkg/sftp"
)

// Attrs is FileAttrs for a file of mode perm, owned by the writer, of a
// size not known beforehand.
func Attrs(perm fs.FileMode) FileAttrs { return FileAttrs{Mode: perm, UID: -1, GID: -1, Size: -1} }

// fileSystem is what a safe write needs of a host: its SFTP server, or the
// controller's kernel.
type fileSystem interface {
	// create makes a new file, O_CREAT|O_EXCL (never through a symlink),
	// that nobody but its writer can open.
	create(name string) (tempFile, error)
	lstat(name string) (fs.FileInfo, error) // lstat(2), with the owner in Sys (see owner)
	readlink(name string) (string, error)   // readlink(2)
	uid() int                               // the writer's, on the host; -1 when not known
	rename(from, to string) error           // rename(2): the target is replaced, not followed
	remove(name string) error               // unlink(2)
	readDir(dir string) ([]fs.FileInfo, error)
	alive(pid int) bool // whether a process with that pid runs on the host
	pid() int           // of the writing process, on the host
}

// tempFile is an open file: everything is done through the descriptor.
type tempFile interface {
	io.Writer
	Stat() (fs.FileInfo, error)
	Chown(uid, gid int) error
	Chmod(mode fs.FileMode) error
	Close() error
}

// writeFile replaces p with what r yields: a temporary file beside p,
// unreadable by others from its creation, is written, checked for size,
// given its owner and mode through its descriptor, closed, and renamed
// over p. Nothing is done to p but the rename, which replaces whatever is
// there (a symlink included) without following it. On any error or
// cancellation the temporary file is removed and p is untouched.
//
// Temporary files left by writers that died are removed on the way.
func writeFile(ctx context.Context, fsys fileSystem, p string, r io.Reader, attrs FileAttrs) (err error) {
	if err := checkPath(fsys, p, false); err != nil {
		return err
	}
	dir, base := path.Split(p)
	dir = path.Clean(dir)
	p = path.Join(dir, base)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		sweep(fsys, dir, base, time.Now())
	}()
	defer func() { <-swept }()

	tmp := path.Join(dir, tempName(fsys.pid(), base))
	f, err := fsys.create(tmp)
	if err != nil {
		return fmt.Errorf("write %s: create a temporary file: %w", p, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			fsys.remove(tmp)
		}
	}()
	n, err := io.Copy(f, ctxReader{ctx, r})
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	if attrs.Size >= 0 && n != attrs.Size {
		return fmt.Errorf("write %s: the content was %d bytes, not the %d expected", p, n, attrs.Size)
	}
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if st.Size() != n {
		return fmt.Errorf("write %s: the host holds %d bytes of the %d sent", p, st.Size(), n)
	}
	// chown clears setuid and setgid: the mode comes after it.
	if uid, gid, ok := owner(st); attrs.UID >= 0 && (!ok || attrs.UID != uid) || attrs.GID >= 0 && (!ok || attrs.GID != gid) {
		if err = f.Chown(attrs.UID, attrs.GID); err != nil {
			return fmt.Errorf("write %s: set owner %d:%d: %w", p, attrs.UID, attrs.GID, err)
		}
	}
	if err = f.Chmod(attrs.Mode); err != nil {
		return fmt.Errorf("write %s: set mode: %w", p, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = fsys.rename(tmp, p); err != nil {
		return fmt.Errorf("write %s: rename into place: %w", p, err)
	}
	return nil
}

// Temporary files are named .runbook-PID-RANDOM-BASE: hidden, in the
// target's directory (so the rename stays on one file system), and telling
// which process on the host wrote them.
const tempPrefix = ".runbook-"

func tempName(pid int, base string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("%s%d-%s-", tempPrefix, pid, hex.EncodeToString(b[:]))
	// NAME_MAX is 255 bytes: a long base is cut, which only costs sweep
	// its match on that name.
	return name + base[:min(len(base), 255-len(name))]
}

// staleAfter is how old a temporary file of a writer that still runs (or
// whose pid was taken by another process) must be to be removed anyway.
const staleAfter = 24 * time.Hour

// sweep removes the temporary files for base in dir left by writers that
// no longer run. It is best effort: a failure only leaves them for later.
func sweep(fsys fileSystem, dir, base string, now time.Time) {
	entries, err := fsys.readDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		pid, ok := tempOf(e.Name(), base)
		if !ok || !e.Mode().IsRegular() {
			continue
		}
		if pid == fsys.pid() || fsys.alive(pid) && now.Sub(e.ModTime()) < staleAfter {
			continue
		}
		_ = fsys.remove(path.Join(dir, e.Name()))
	}
}

// tempOf reports whether name is a temporary file for base, and its
// writer's pid.
func tempOf(name, base string) (int, bool) {
	rest, ok := strings.CutPrefix(name, tempPrefix)
	if !ok {
		return 0, false
	}
	pidText, rest, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(pidText)
	if err != nil || pid <= 0 || len(rest) < 13 || rest[12] != '-' {
		return 0, false
	}
	if _, err := hex.DecodeString(rest[:12]); err != nil {
		return 0, false
	}
	cut := rest[13:]
	if cut == "" || !strings.HasPrefix(base, cut) || len(cut) < len(base) && len(name) < 255 {
		return 0, false
	}
	return pid, true
}

// owner reads the owner and group of what Stat returned.
func owner(fi fs.FileInfo) (uid, gid int, ok bool) {
	switch st := fi.Sys().(type) {
	case *sftp.FileStat:
		return int(st.UID), int(st.GID), true
	case *syscall.Stat_t:
		return int(st.Uid), int(st.Gid), true
	}
	return 0, 0, false
}
