package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
)

// FileStat is what Inspect found at a path.
type FileStat struct {
	// Type is "file", "directory", "symlink", or stat(1)'s words for the
	// others ("fifo", "socket", "character special file", "block
	// special file").
	Type     string
	Perm     uint32 // permission bits, with setuid, setgid and sticky
	UID, GID uint32
	Size     int64
}

// Inspector is implemented by connections that can look at a path without
// running a command on the host: SFTP's LSTAT and STAT for SSH (through
// an sftp-server run as the user the connection acts as), lstat(2) and
// stat(2) for the controller.
type Inspector interface {
	// Inspect describes path, following a final symlink when follow is
	// set; a missing path is an fs.ErrNotExist. ErrCannotInspect means
	// the host offers no way to (no sftp-server program nor SFTP
	// subsystem): ask with a command.
	Inspect(ctx context.Context, path string, follow bool) (FileStat, error)
}

// ErrCannotInspect is Inspect's error when the host cannot be asked
// without a command.
var ErrCannotInspect = errors.New("cannot inspect files without a command")

// Inspect asks the host's SFTP server: no process is started on the host.
func (s *SSH) Inspect(ctx context.Context, p string, follow bool) (FileStat, error) {
	fc, err := s.files(ctx)
	if err != nil {
		if IsConnError(err) || ctx.Err() != nil {
			return FileStat{}, err
		}
		return FileStat{}, fmt.Errorf("%w: %w", ErrCannotInspect, err)
	}
	return inspectSFTP(ctx, fc, p, follow)
}

// Inspect asks the controller's kernel.
func (Local) Inspect(ctx context.Context, p string, follow bool) (FileStat, error) {
	var st syscall.Stat_t
	var err error
	if follow {
		err = syscall.Stat(p, &st)
	} else {
		err = syscall.Lstat(p, &st)
	}
	if errors.Is(err, syscall.ENOTDIR) { // a file where a directory should be: no such path
		err = syscall.ENOENT
	}
	if err != nil {
		return FileStat{}, &fs.PathError{Op: "inspect", Path: p, Err: err}
	}
	return fileStat(st.Mode, st.Uid, st.Gid, st.Size), nil
}

// fileStat reads a POSIX st_mode.
func fileStat(mode, uid, gid uint32, size int64) FileStat {
	fs := FileStat{Perm: mode & 0o7777, UID: uid, GID: gid, Size: size}
	switch mode & syscall.S_IFMT {
	case syscall.S_IFREG:
		fs.Type = "file"
	case syscall.S_IFDIR:
		fs.Type = "directory"
	case syscall.S_IFLNK:
		fs.Type = "symlink"
	case syscall.S_IFIFO:
		fs.Type = "fifo"
	case syscall.S_IFSOCK:
		fs.Type = "socket"
	case syscall.S_IFCHR:
		fs.Type = "character special file"
	case syscall.S_IFBLK:
		fs.Type = "block special file"
	default:
		fs.Type = "unknown file type"
	}
	return fs
}

// withCtx runs f, returning early when ctx ends (f then finishes on its
// own; the SFTP client it uses is closed with the connection).
func withCtx(ctx context.Context, f func() error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
