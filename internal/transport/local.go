package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Local runs on the controller itself, for steps with `hosts: local`.
type Local struct{}

// User is the user runbook runs as.
func (Local) User() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return ""
}

// DialContext opens a TCP connection from the controller.
func (Local) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, network, addr)
}

// localGrace is how long a cancelled command has between SIGTERM and
// SIGKILL.
var localGrace = 3 * time.Second

// Run runs cmd with sh, which reads it from stdin (see stdinScript) so
// that it is in no process's argv. The command runs in a process group of
// its own: when ctx ends, the group (the command and what it started) is
// sent SIGTERM, then SIGKILL after a grace period.
func (Local) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	return runLocal(ctx, cmd, stdin, nil)
}

// runAs runs cmd as the user as says, through the exchange with its
// method.
func (Local) runAs(ctx context.Context, cmd string, stdin io.Reader, as *Escalation) (Result, error) {
	return runLocal(ctx, cmd, stdin, as.exchange())
}

// runLocal is Run, through x when set (see exchange).
func runLocal(ctx context.Context, cmd string, stdin io.Reader, x *exchange) (Result, error) {
	in := io.Reader(strings.NewReader(cmd))
	if stdin != nil {
		in = io.MultiReader(in, stdin)
	}
	var out, errOut capped
	ended := make(chan struct{})
	end := sync.OnceFunc(func() { close(ended) })
	defer end()
	var c *exec.Cmd
	var w io.WriteCloser
	if x == nil {
		c = exec.Command("sh", "-c", readScript(len(cmd)))
		c.Stdin, c.Stdout, c.Stderr = in, &out, &errOut
	} else {
		// Written by the exchange, which waits for the method's prompt.
		c = exec.Command("sh", "-c", x.command(stdinScript(cmd)))
		c.Stdout, c.Stderr = &out, x.stderr(&errOut)
		var err error
		if w, err = c.StdinPipe(); err != nil {
			return Result{}, fmt.Errorf("run a command: %w", err)
		}
	}
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		return Result{}, fmt.Errorf("run a command: %w", err)
	}
	var fed chan error
	if x != nil {
		fed = make(chan error, 1)
		go func() { fed <- x.feed(ctx, w, in, ended) }()
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	var err error
wait:
	for {
		select {
		case ferr := <-fed:
			if ferr != nil {
				// The method refused: nothing of the command ran, and
				// what the method waits on is not worth waiting for.
				_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
				return Result{}, ferr
			}
			fed = nil
		case err = <-done:
			end()
			if fed != nil && !x.ran() {
				if err := <-fed; err != nil {
					return Result{}, err
				}
			}
			break wait
		case <-ctx.Done():
			pgid := c.Process.Pid
			_ = syscall.Kill(-pgid, syscall.SIGTERM)
			select {
			case <-done:
			case <-time.After(localGrace):
				_ = syscall.Kill(-pgid, syscall.SIGKILL)
				<-done
			}
			// What outlived the shell in the group goes too.
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			return Result{Stdout: out.bytes(), Stderr: errOut.bytes(), Truncated: out.truncated() || errOut.truncated()}, ctx.Err()
		}
	}
	res := Result{Stdout: out.bytes(), Stderr: errOut.bytes(), Truncated: out.truncated() || errOut.truncated()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
		if res.Code < 0 {
			return res, fmt.Errorf("run a command: %w", err)
		}
	case err != nil:
		return res, fmt.Errorf("run a command: %w", err)
	}
	return res, nil
}

// WriteFile writes path as the controller's user: see writeFile.
func (Local) WriteFile(ctx context.Context, path string, r io.Reader, attrs FileAttrs) error {
	return writeFile(ctx, localFS{}, path, r, attrs)
}

// ReadFile copies path to w.
func (Local) ReadFile(ctx context.Context, path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	if _, err := io.Copy(w, ctxReader{ctx, f}); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	return nil
}

// fileServer starts sftp-server through sudo, for becoming another user
// on the controller; it ends when the write or read does.
func (Local) fileServer(ctx context.Context, as *Escalation) (*fileServer, func(), error) {
	srv, err := startFileServer(ctx, localPipe, as)
	if err != nil {
		return nil, nil, fmt.Errorf("start sftp-server as %s: %w", as.key(), err)
	}
	return srv, srv.stop, nil
}

// localPipe starts cmd on the controller (see starter). Closing it closes
// its stdin and, if that does not end it at once, kills it.
func localPipe(cmd string, tap func(io.Writer) io.Writer) (*pipe, error) {
	c := exec.Command("sh", "-c", cmd)
	p := &pipe{errOut: &syncCapped{}, ended: make(chan struct{})}
	c.Stderr = p.errOut
	if tap != nil {
		c.Stderr = tap(p.errOut)
	}
	var err error
	if p.stdin, err = c.StdinPipe(); err != nil {
		return nil, err
	}
	if p.stdout, err = c.StdoutPipe(); err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		return nil, err
	}
	go func() { c.Wait(); close(p.ended) }()
	p.close = func() {
		p.stdin.Close()
		select {
		case <-p.ended:
		case <-time.After(100 * time.Millisecond):
			c.Process.Kill()
		}
	}
	return p, nil
}

// CheckWrite says whether WriteFile may write path (see checkWay).
func (Local) CheckWrite(ctx context.Context, path string) error {
	return checkPath(localFS{}, path, true)
}

// localFS is the controller's own file system, for writeFile.
type localFS struct{}

func (localFS) create(name string) (tempFile, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
}
func (localFS) rename(from, to string) error           { return os.Rename(from, to) }
func (localFS) lstat(name string) (fs.FileInfo, error) { return os.Lstat(name) }
func (localFS) readlink(name string) (string, error)   { return os.Readlink(name) }
func (localFS) uid() int                               { return os.Geteuid() }
func (localFS) remove(name string) error               { return os.Remove(name) }
func (localFS) pid() int                               { return os.Getpid() }
func (localFS) alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
func (localFS) readDir(dir string) ([]fs.FileInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := make([]fs.FileInfo, 0, len(entries))
	for _, e := range entries {
		if fi, err := e.Info(); err == nil {
			out = append(out, fi)
		}
	}
	return out, nil
}
