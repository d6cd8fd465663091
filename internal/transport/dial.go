package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/melbahja/goph"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// dial makes the SSH connection cfg describes, bounding the whole of it
// (TCP connect, handshake, authentication) by cfg.Timeout and ctx.
// ssh.Dial bounds only the TCP connect: a host that accepts the
// connection and never speaks, a tarpit or a stuck sshd, would hold the
// run forever. With via, the TCP connection is made by that bastion
// (a direct-tcpip channel, as ssh -J does).
func dial(ctx context.Context, cfg *goph.Config, via *ssh.Client) (*ssh.Client, error) {
	addr := net.JoinHostPort(cfg.Addr, fmt.Sprint(cfg.Port))
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	conn, err := connect(ctx, addr, via, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	// The end of ctx, timeout or cancellation, interrupts the handshake:
	// a deadline on a TCP connection, closing a tunnel (see tunnel).
	stop := context.AfterFunc(ctx, func() {
		if conn.SetDeadline(time.Now()) != nil {
			conn.Close()
		}
	})
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, &ssh.ClientConfig{
		User:            cfg.User,
		Auth:            cfg.Auth,
		HostKeyCallback: cfg.Callback,
		BannerCallback:  cfg.BannerCallback,
	})
	if !stop() {
		if err == nil {
			c.Close()
		}
		return nil, fmt.Errorf("SSH handshake not done within %s (--connect-timeout): the port takes connections, but no SSH server answered in time", cfg.Timeout)
	}
	if err != nil {
		return nil, err
	}
	return ssh.NewClient(&boundedConn{Conn: c, timeout: cfg.Timeout}, chans, reqs), nil
}

// connect makes the TCP connection to addr, directly or from via.
func connect(ctx context.Context, addr string, via *ssh.Client, timeout time.Duration) (net.Conn, error) {
	if via == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", addr)
	}
	c, err := via.DialContext(ctx, "tcp", addr)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no connection within %s (--connect-timeout)", timeout)
		} else if strings.Contains(err.Error(), "administratively prohibited") {
			err = fmt.Errorf("%w (does the bastion's sshd forbid forwarding? see its AllowTcpForwarding and PermitOpen)", err)
		}
		return nil, &forwardError{addr: addr, err: err}
	}
	return newTunnel(c), nil
}

// forwardError is a bastion that could not open the connection asked of
// it: the bastion's failure, not the target's.
type forwardError struct {
	addr string
	err  error
}

func (e *forwardError) Error() string {
	return fmt.Sprintf("open a connection to %s: %v", e.addr, e.err)
}
func (e *forwardError) Unwrap() error { return e.err }

// tunnel is a connection made by a bastion. Closing an SSH channel does
// not end a Read under way on it (that waits for the bastion's answer),
// so a tunnel reads through a pipe whose Close does: a timeout lets go of
// a target that does not answer behind a bastion that may not either.
type tunnel struct {
	net.Conn
	r *io.PipeReader
}

func newTunnel(c net.Conn) *tunnel {
	pr, pw := io.Pipe()
	go func() {
		_, err := io.Copy(pw, c)
		pw.CloseWithError(err)
	}()
	return &tunnel{Conn: c, r: pr}
}

func (t *tunnel) Read(p []byte) (int, error) { return t.r.Read(p) }

func (t *tunnel) Close() error {
	t.r.Close()
	return t.Conn.Close()
}

// boundedConn bounds by the connect timeout what a live host answers at
// once: opening a session, the session's requests (exec, subsystem) and
// keepalives. A host that does not answer in that time is taken for dead,
// and the connection is closed, which ends everything waiting on it.
type boundedConn struct {
	ssh.Conn
	timeout time.Duration
}

func (c *boundedConn) OpenChannel(name string, data []byte) (ch ssh.Channel, reqs <-chan *ssh.Request, err error) {
	if name != "session" {
		// A direct-tcpip channel opens once the host has made the TCP
		// connection asked for, which may rightly take long.
		return c.Conn.OpenChannel(name, data)
	}
	err = c.bound(func() error {
		ch, reqs, err = c.Conn.OpenChannel(name, data)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return boundedChannel{Channel: ch, conn: c}, reqs, nil
}

func (c *boundedConn) SendRequest(name string, wantReply bool, payload []byte) (ok bool, reply []byte, err error) {
	if !wantReply {
		return c.Conn.SendRequest(name, wantReply, payload)
	}
	err = c.bound(func() error {
		ok, reply, err = c.Conn.SendRequest(name, wantReply, payload)
		return err
	})
	return ok, reply, err
}

// bound runs f, and closes the connection if f takes longer than the
// timeout.
func (c *boundedConn) bound(f func() error) error {
	t := time.AfterFunc(c.timeout, func() { c.Conn.Close() })
	err := f()
	if !t.Stop() {
		return fmt.Errorf("no answer from the host within %s (--connect-timeout); connection closed", c.timeout)
	}
	return err
}

// startFileServer starts an sftp-server as the user as says (see
// startFileServer), bounded as a session's requests are: its first
// answers come with no timeout of their own.
func (s *SSH) startFileServer(ctx context.Context, as *Escalation) (*fileServer, error) {
	b, ok := s.client.Conn.(*boundedConn)
	if !ok {
		return startFileServer(ctx, s.pipe, as)
	}
	var srv *fileServer
	err := b.bound(func() (err error) {
		srv, err = startFileServer(ctx, s.pipe, as)
		return err
	})
	if err != nil && srv != nil {
		srv.stop()
		srv = nil
	}
	return srv, err
}

// startSFTP starts the connection's SFTP client, bounded as a session's
// requests are: sftp.NewClient waits for the server's first answer with no
// timeout.
func (s *SSH) startSFTP(opts ...sftp.ClientOption) (*sftp.Client, error) {
	b, ok := s.client.Conn.(*boundedConn)
	if !ok {
		return s.client.NewSftp(opts...)
	}
	var c *sftp.Client
	err := b.bound(func() (err error) {
		c, err = s.client.NewSftp(opts...)
		return err
	})
	if err != nil {
		if c != nil {
			c.Close()
		}
		return nil, err
	}
	return c, nil
}

type boundedChannel struct {
	ssh.Channel
	conn *boundedConn
}

func (ch boundedChannel) SendRequest(name string, wantReply bool, payload []byte) (ok bool, err error) {
	if !wantReply {
		return ch.Channel.SendRequest(name, wantReply, payload)
	}
	err = ch.conn.bound(func() error {
		ok, err = ch.Channel.SendRequest(name, wantReply, payload)
		return err
	})
	return ok, err
}
