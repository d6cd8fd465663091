package transport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/melbahja/goph"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// SSHConfig says how to reach one host.
type SSHConfig struct {
	Host    string // inventory name, for messages
	Address string
	Port    int
	User    string
	Auth    goph.Auth
	Keys    *HostKeys
	Timeout time.Duration // for connecting; 0 means 20s
}

// SSH is one connection to a host, shared by every task of a run: each
// command is a session on it, and files go through one SFTP client.
type SSH struct {
	host   string
	user   string
	client *goph.Client

	sftpMu  sync.Mutex
	sftp    *sftp.Client
	sftpErr error

	// shMu is held while a command runs in sh; noShell is set when the
	// host cannot run one, and commands then get a session each.
	shMu    sync.Mutex
	sh      *shell
	noShell bool

	commands atomic.Int64
}

// DialSSH connects to a host and verifies its key. The connect timeout
// bounds the handshake, and later every request a live host answers at
// once (see boundedConn).
func DialSSH(ctx context.Context, cfg SSHConfig) (*SSH, error) {
	port := cfg.Port
	if port == 0 {
		port = 22
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	gc := &goph.Config{
		User:     cfg.User,
		Addr:     cfg.Address,
		Port:     uint(port),
		Auth:     cfg.Auth,
		Timeout:  timeout,
		Callback: cfg.Keys.Callback(cfg.Host),
	}
	c, err := dial(ctx, gc)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var hk *HostKeyError
		if errors.As(err, &hk) {
			return nil, &ConnError{Host: cfg.Host, Err: hk}
		}
		return nil, &ConnError{Host: cfg.Host, Err: fmt.Errorf("%s@%s:%d: %w", cfg.User, cfg.Address, port, err)}
	}
	return &SSH{host: cfg.Host, user: cfg.User, client: &goph.Client{Client: c, Config: gc}}, nil
}

// Commands counts the commands run on the host (not file transfers).
func (s *SSH) Commands() int { return int(s.commands.Load()) }

// LoginUser is the user the connection is logged in as.
func (s *SSH) LoginUser() string { return s.user }

// DialContext opens a TCP connection from the host through the SSH
// connection (a direct-tcpip channel), as `ssh -L` does.
func (s *SSH) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := s.client.DialContext(ctx, network, addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s from %s: %w", addr, s.host, err)
	}
	return c, nil
}

// Close ends the connection.
func (s *SSH) Close() error {
	s.shMu.Lock()
	if s.sh != nil {
		s.sh.close()
		s.sh = nil
	}
	s.shMu.Unlock()
	s.sftpMu.Lock()
	if s.sftp != nil {
		s.sftp.Close()
	}
	s.sftpMu.Unlock()
	return s.client.Close()
}

// Run runs cmd in the connection's long-lived shell (see shell), or in a
// session of its own when it reads stdin or the shell is busy with another
// command. When ctx is cancelled the remote command is sent SIGTERM, and
// SIGKILL if it still lives after a grace period.
func (s *SSH) Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	s.commands.Add(1)
	if stdin == nil && s.shMu.TryLock() {
		res, err, ok := s.runInShell(ctx, cmd)
		s.shMu.Unlock()
		if ok {
			return res, err
		}
	}
	return s.runSession(ctx, cmd, stdin)
}

// runInShell runs cmd in the shell, starting it on first use; ok is false
// when the host cannot run one, and nothing was run. The caller holds shMu.
func (s *SSH) runInShell(ctx context.Context, cmd string) (res Result, err error, ok bool) {
	if s.noShell {
		return Result{}, nil, false
	}
	if s.sh == nil {
		sh, err := startShell(ctx, s.client.Client, s.client.Config.Timeout)
		if err != nil {
			if ctx.Err() != nil {
				return Result{}, ctx.Err(), true
			}
			if errors.Is(err, errShellSilent) {
				// Taken for dead, as a host that does not finish the
				// handshake: what else waits on it ends now.
				s.client.Close()
				return Result{}, &ConnError{Host: s.host, Err: err}, true
			}
			if !s.alive() {
				return Result{}, &ConnError{Host: s.host, Err: err}, true
			}
			s.noShell = true
			return Result{}, nil, false
		}
		s.sh = sh
	}
	res, err = s.sh.run(ctx, cmd)
	if err != nil {
		s.sh.close()
		s.sh = nil
		if ctx.Err() == nil && !s.alive() {
			err = &ConnError{Host: s.host, Err: fmt.Errorf("connection lost during the command: %w", err)}
		}
	}
	return res, err, true
}

// alive asks the server whether the connection still stands.
func (s *SSH) alive() bool {
	_, _, err := s.client.SendRequest("keepalive@openssh.com", true, nil)
	return err == nil
}

// runSession runs cmd in a new session.
func (s *SSH) runSession(ctx context.Context, cmd string, stdin io.Reader) (Result, error) {
	sess, err := s.client.NewSession()
	if err != nil {
		return Result{}, &ConnError{Host: s.host, Err: fmt.Errorf("open session: %w", err)}
	}
	defer sess.Close()
	var out, errOut capped
	tap := newPIDTap(&errOut)
	sess.Stdout, sess.Stderr = &out, tap
	if stdin != nil {
		sess.Stdin = ctxReader{ctx, stdin}
	}
	if err := sess.Start(tap.wrap(cmd)); err != nil {
		return Result{}, &ConnError{Host: s.host, Err: fmt.Errorf("start command: %w", err)}
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case <-ctx.Done():
		stopSession(s.client.Client, sess, tap, done)
		return Result{Stdout: out.bytes(), Stderr: errOut.bytes()}, ctx.Err()
	case err = <-done:
	}
	tap.flush()
	res := Result{Stdout: out.bytes(), Stderr: errOut.bytes()}
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		if exit.Signal() != "" && exit.ExitStatus() == 0 {
			return res, fmt.Errorf("command killed by signal %s", exit.Signal())
		}
		res.Code = exit.ExitStatus()
	case errors.As(err, &missing):
		return res, &ConnError{Host: s.host, Err: fmt.Errorf("command ended without an exit status: %w", err)}
	default:
		return res, &ConnError{Host: s.host, Err: err}
	}
	return res, nil
}

func (s *SSH) files() (*sftp.Client, error) {
	s.sftpMu.Lock()
	defer s.sftpMu.Unlock()
	if s.sftp != nil || s.sftpErr != nil {
		return s.sftp, s.sftpErr
	}
	c, err := s.startSFTP(sftp.UseConcurrentWrites(true))
	if err != nil {
		if s.alive() {
			// The server has no SFTP subsystem: remembered for the run.
			s.sftpErr = fmt.Errorf("start sftp on %s (is sshd's sftp subsystem enabled?): %w", s.host, err)
			return nil, s.sftpErr
		}
		return nil, &ConnError{Host: s.host, Err: fmt.Errorf("start sftp: %w", err)}
	}
	s.sftp = c
	return c, nil
}

// WriteFile streams r to a temporary file beside path over SFTP, sets its
// mode, then renames it over path, so readers see the old or the new file
// and never a partial one.
func (s *SSH) WriteFile(ctx context.Context, p string, r io.Reader, mode fs.FileMode) (err error) {
	fc, err := s.files()
	if err != nil {
		return err
	}
	tmp := tempName(p)
	f, err := fc.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL)
	if err != nil {
		return fmt.Errorf("write %s: create temporary file: %w", p, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			fc.Remove(tmp)
		}
	}()
	if err = fc.Chmod(tmp, mode); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if _, err = f.ReadFrom(ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	if err = fc.PosixRename(tmp, p); err != nil {
		return fmt.Errorf("write %s: rename into place: %w", p, err)
	}
	return nil
}

// ReadFile copies path to w over SFTP.
func (s *SSH) ReadFile(ctx context.Context, p string, w io.Writer) error {
	fc, err := s.files()
	if err != nil {
		return err
	}
	f, err := fc.Open(p)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("read %s: %w", p, fs.ErrNotExist)
		}
		return fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	if _, err := f.WriteTo(ctxWriter{ctx, w}); err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return nil
}

// tempName is a fresh hidden name in the same directory as p, so that the
// final rename stays on one file system and is atomic.
func tempName(p string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return path.Join(path.Dir(p), ".runbook-"+hex.EncodeToString(b[:])+"-"+path.Base(p))
}

type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
