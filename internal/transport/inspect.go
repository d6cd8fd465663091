package transport

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"

	"github.com/runbookdev/runbook/tasks"
)

// ErrCannotInspect is Inspect's error when the host cannot be asked
// without a command.
var ErrCannotInspect = fmt.Errorf("cannot inspect files without a command: %w", tasks.ErrNotSupported)

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
