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
	"path/filepath"
	"time"
)

// Local runs on the controller itself, for steps with `hosts: local`.
type Local struct{}

// LoginUser is the user runbook runs as.
func (Local) LoginUser() string {
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

// Run runs cmd with sh -c.
func (Local) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	c := exec.CommandContext(ctx, "sh", "-c", cmd)
	var out, errOut capped
	c.Stdin, c.Stdout, c.Stderr = stdin, &out, &errOut
	c.WaitDelay = 2 * time.Second
	err := c.Run()
	res := Result{Stdout: out.bytes(), Stderr: errOut.bytes()}
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.Code = exit.ExitCode()
		if res.Code < 0 {
			return res, fmt.Errorf("run %q: %w", cmd, err)
		}
	case err != nil:
		return res, fmt.Errorf("run %q: %w", cmd, err)
	}
	return res, nil
}

// WriteFile writes a temporary file beside path and renames it into place.
func (Local) WriteFile(ctx context.Context, path string, r io.Reader, mode fs.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".runbook-*-"+filepath.Base(path))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
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
