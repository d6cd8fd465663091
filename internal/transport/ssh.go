package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
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
	// Commands, when set, counts the commands started on the host
	// (file transfers are not commands): the pool's count for the host.
	Commands *atomic.Int64
	// HostKeyCallback, when set, checks the host's key instead of Keys.
	HostKeyCallback ssh.HostKeyCallback
	// Via, when set, is the bastion the host is reached through, named
	// Bastion in messages ("bastion bast1 (10.0.0.1:22)").
	Via     *ssh.Client
	Bastion string
}

// SSH is one connection to a host, shared by every task of a run: each
// command is a session on it, and files go through one SFTP client.
type SSH struct {
	host   string
	user   string
	client *goph.Client

	// srvMu guards the SFTP servers started on the host, by escalation
	// (see Escalation.key), and the subsystem's client, used for reading when
	// the host has no sftp-server program.
	srvMu   sync.Mutex
	servers map[string]*started
	sub     *sftp.Client
	subErr  error

	// shMu is held while a command runs in sh; noShell is set when the
	// host cannot run one, and commands then get a session each.
	shMu    sync.Mutex
	sh      *shell
	noShell bool

	commands *atomic.Int64 // see SSHConfig.Commands
	locks    lockPool      // see Locker
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
	callback := cfg.HostKeyCallback
	if callback == nil {
		callback = cfg.Keys.Callback(cfg.Host)
	}
	gc := &goph.Config{
		User:     cfg.User,
		Addr:     cfg.Address,
		Port:     uint(port),
		Auth:     cfg.Auth,
		Timeout:  timeout,
		Callback: callback,
	}
	c, err := dial(ctx, gc, cfg.Via)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var hk *HostKeyError
		var fwd *forwardError
		switch {
		case errors.As(err, &hk):
			return nil, &ConnError{Host: cfg.Host, Err: hk}
		case errors.As(err, &fwd):
			return nil, &ConnError{Host: cfg.Host, Via: cfg.Bastion, Err: fwd}
		}
		through := ""
		if cfg.Via != nil {
			through = " through " + cfg.Bastion
		}
		return nil, &ConnError{Host: cfg.Host, Err: fmt.Errorf("%s@%s:%d%s: %w", cfg.User, cfg.Address, port, through, err)}
	}
	counter := cfg.Commands
	if counter == nil {
		counter = new(atomic.Int64)
	}
	return &SSH{host: cfg.Host, user: cfg.User, commands: counter, client: &goph.Client{Client: c, Config: gc}}, nil
}

// User is the user the connection is logged in as.
func (s *SSH) User() string { return s.user }

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
	s.srvMu.Lock()
	for _, st := range s.servers {
		if st.srv != nil {
			st.srv.stop()
		}
	}
	s.servers = nil
	if s.sub != nil {
		s.sub.Close()
	}
	s.srvMu.Unlock()
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
	return s.runSession(ctx, cmd, stdin, nil)
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
				return Result{}, &ConnError{Host: s.host, Lost: true, Err: err}, true
			}
			if !s.alive() {
				return Result{}, &ConnError{Host: s.host, Lost: true, Err: err}, true
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
			err = &ConnError{Host: s.host, Lost: true, Err: fmt.Errorf("during the command: %w", err)}
		}
	}
	return res, err, true
}

// alive asks the server whether the connection still stands.
func (s *SSH) alive() bool {
	_, _, err := s.client.SendRequest("keepalive@openssh.com", true, nil)
	return err == nil
}

// runSession runs cmd in a new session; through x, when set, as another
// user (see exchange).
func (s *SSH) runSession(ctx context.Context, cmd string, stdin io.Reader, x *exchange) (Result, error) {
	sess, err := s.client.NewSession()
	if err != nil {
		return Result{}, &ConnError{Host: s.host, Lost: true, Err: fmt.Errorf("open session: %w", err)}
	}
	defer sess.Close()
	var out, errOut capped
	var errW io.Writer = &errOut
	line := stdinScript(cmd)
	if x != nil {
		errW, line = x.stderr(errW), x.command(line)
	}
	tap := newPIDTap(errW)
	sess.Stdout, sess.Stderr = &out, tap
	// The command is read from stdin, not passed as an argument that every
	// local user sees in ps. When ctx ends, stdin is not closed (the
	// command would take a truncated input for the whole of it): the
	// session is.
	in := io.Reader(strings.NewReader(cmd))
	if stdin != nil {
		in = io.MultiReader(in, stdin)
	}
	closed := make(chan struct{})
	held := holdReader{ctx, in, closed}
	ended := make(chan struct{})
	end := sync.OnceFunc(func() { close(ended) })
	defer end()
	var fed chan error
	if x == nil {
		sess.Stdin = held
	} else {
		// Written by the exchange, which waits for the method's prompt:
		// Wait waits for a Stdin reader, not for this pipe.
		w, err := sess.StdinPipe()
		if err != nil {
			return Result{}, &ConnError{Host: s.host, Lost: true, Err: fmt.Errorf("open session: %w", err)}
		}
		fed = make(chan error, 1)
		go func() { fed <- x.feed(ctx, w, held, ended) }()
	}
	if err := sess.Start(tap.wrap(line)); err != nil {
		return Result{}, &ConnError{Host: s.host, Lost: true, Err: fmt.Errorf("start command: %w", err)}
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
wait:
	for {
		select {
		case <-ctx.Done():
			stopSession(s.client.Client, sess, tap, done)
			close(closed)
			return Result{Stdout: out.bytes(), Stderr: errOut.bytes(), Truncated: out.truncated() || errOut.truncated()}, ctx.Err()
		case ferr := <-fed:
			if ferr != nil {
				// The method refused: nothing of the command ran, and
				// the method's end is not worth waiting for.
				return Result{}, ferr
			}
			fed = nil
		case err = <-done:
			break wait
		}
	}
	end()
	tap.flush()
	if fed != nil && !x.ran() {
		if err := <-fed; err != nil {
			return Result{}, err
		}
	}
	res := Result{Stdout: out.bytes(), Stderr: errOut.bytes(), Truncated: out.truncated() || errOut.truncated()}
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
		return res, &ConnError{Host: s.host, Lost: true, Err: fmt.Errorf("command ended without an exit status: %w", err)}
	default:
		return res, &ConnError{Host: s.host, Lost: true, Err: err}
	}
	return res, nil
}

// runAs runs cmd as the user as says, through the exchange with its
// method, in a session of its own.
func (s *SSH) runAs(ctx context.Context, cmd string, stdin io.Reader, as *Escalation) (Result, error) {
	s.commands.Add(1)
	return s.runSession(ctx, cmd, stdin, as.exchange())
}

// started is an SFTP server started on the host, or why it could not be.
type started struct {
	srv *fileServer
	err error
}

// fileServer returns the SFTP server that runs as the user as says (nil:
// the login user) on the host, starting it on first use: one per user
// for the run.
func (s *SSH) fileServer(ctx context.Context, as *Escalation) (*fileServer, func(), error) {
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if st, ok := s.servers[as.key()]; ok {
		if st.srv == nil || !st.srv.ended() {
			return st.srv, func() {}, st.err
		}
		// Killed on the host, or its connection broke: another one.
		st.srv.stop()
		delete(s.servers, as.key())
	}
	srv, err := s.startFileServer(ctx, as)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if !s.alive() {
			return nil, nil, &ConnError{Host: s.host, Lost: true, Err: fmt.Errorf("start sftp-server: %w", err)}
		}
		var be *BecomeError
		switch {
		case errors.As(err, &be):
			// It says it all, and is the same for a command.
		case as != nil:
			err = fmt.Errorf("start sftp-server on %s as %s: %w", s.host, as.user(), err)
		default:
			err = fmt.Errorf("start sftp-server on %s %w", s.host, err)
		}
	}
	if s.servers == nil {
		s.servers = map[string]*started{}
	}
	s.servers[as.key()] = &started{srv, err}
	return srv, func() {}, err
}

// pipe starts cmd in a session of its own (see starter).
func (s *SSH) pipe(cmd string, tap func(io.Writer) io.Writer) (*pipe, error) {
	sess, err := s.client.NewSession()
	if err != nil {
		return nil, &ConnError{Host: s.host, Lost: true, Err: fmt.Errorf("open session: %w", err)}
	}
	p := &pipe{errOut: &syncCapped{}, ended: make(chan struct{}), close: func() { sess.Close() }}
	sess.Stderr = p.errOut
	if tap != nil {
		sess.Stderr = tap(p.errOut)
	}
	if p.stdin, err = sess.StdinPipe(); err == nil {
		if p.stdout, err = sess.StdoutPipe(); err == nil {
			err = sess.Start(cmd)
		}
	}
	if err != nil {
		sess.Close()
		return nil, &ConnError{Host: s.host, Lost: true, Err: fmt.Errorf("start command: %w", err)}
	}
	go func() { sess.Wait(); close(p.ended) }()
	return p, nil
}

// files is the SFTP client that inspects and reads as the login user: the
// server runbook started, or else the SSH server's subsystem.
func (s *SSH) files(ctx context.Context) (*sftp.Client, error) {
	srv, _, err := s.fileServer(ctx, nil)
	if err == nil {
		return srv.Client, nil
	}
	if !errors.Is(err, errNoSFTPServer) {
		return nil, err
	}
	s.srvMu.Lock()
	defer s.srvMu.Unlock()
	if s.sub != nil || s.subErr != nil {
		return s.sub, s.subErr
	}
	c, err := s.startSFTP()
	if err != nil {
		if !s.alive() {
			return nil, &ConnError{Host: s.host, Lost: true, Err: fmt.Errorf("start sftp: %w", err)}
		}
		// Neither: remembered for the run.
		s.subErr = fmt.Errorf("no SFTP on %s: %w, and sshd has no sftp subsystem: %w", s.host, errNoSFTPServer, err)
		return nil, s.subErr
	}
	s.sub = c
	return c, nil
}

// WriteFile writes p through the login user's SFTP server (see writeFile):
// readers see the old or the new file, never a partial one, and nobody
// else can read it before it is in place.
func (s *SSH) WriteFile(ctx context.Context, p string, r io.Reader, attrs FileAttrs) error {
	return writeSFTP(ctx, s, nil, p, r, attrs)
}

// CheckWrite says whether WriteFile may write p (see checkWay), asking
// through the same server.
func (s *SSH) CheckWrite(ctx context.Context, p string) error {
	return checkSFTP(ctx, s, nil, p)
}

// ReadFile copies path to w over SFTP.
func (s *SSH) ReadFile(ctx context.Context, p string, w io.Writer) error {
	fc, err := s.files(ctx)
	if err != nil {
		return fmt.Errorf("read %s: %w", p, err)
	}
	return readSFTP(ctx, fc, p, w)
}

// holdReader reads r until ctx ends, then holds the reader back until
// closed is closed, so that what reads it never sees a premature end.
type holdReader struct {
	ctx    context.Context
	r      io.Reader
	closed chan struct{}
}

func (h holdReader) Read(p []byte) (int, error) {
	if err := h.ctx.Err(); err != nil {
		<-h.closed
		return 0, err
	}
	return h.r.Read(p)
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
