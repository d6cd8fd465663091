package transport

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/melbahja/goph"
	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// dial makes the SSH connection cfg describes, bounding the whole of it
// (TCP connect, handshake, authentication) by cfg.Timeout and ctx.
// ssh.Dial bounds only the TCP connect: a host that accepts the
// connection and never speaks, a tarpit or a stuck sshd, would hold the
// run forever.
func dial(ctx context.Context, cfg *goph.Config) (*ssh.Client, error) {
	addr := net.JoinHostPort(cfg.Addr, fmt.Sprint(cfg.Port))
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	// The end of ctx, timeout or cancellation, interrupts the handshake.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
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
