package uri

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/runbookdev/runbook/tasks"
)

// maxCA is the most of ca_path that is read: a bundle of every public CA
// is a few hundred KiB.
const maxCA = 4 << 20

// client is an HTTP client whose connections start on the host, as
// consul's is: the host resolves the name and opens the connection, and
// the controller's proxy settings play no part.
func (u *URI) client(ctx context.Context, h *tasks.Host) (*http.Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if u.ValidateCerts != nil && !*u.ValidateCerts {
		tlsConf.InsecureSkipVerify = true
	}
	if u.CAPath != "" {
		pool, err := u.caPool(ctx, h)
		if err != nil {
			return nil, err
		}
		tlsConf.RootCAs = pool
	}
	c := &http.Client{
		Transport: &http.Transport{
			DialContext:       h.Conn.DialContext,
			TLSClientConfig:   tlsConf,
			DisableKeepAlives: true,
			ForceAttemptHTTP2: true,
		},
		Timeout: u.Timeout,
	}
	switch {
	case u.FollowRedirects == "none", u.FollowRedirects == "safe" && !u.readOnly():
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c, nil
}

// caPool reads ca_path from the host: the request is the host's, and so
// is the trust it places in a server.
func (u *URI) caPool(ctx context.Context, h *tasks.Host) (*x509.CertPool, error) {
	var buf bytes.Buffer
	if err := h.Conn.ReadFile(ctx, u.CAPath, &limited{&buf, maxCA}); err != nil {
		err = fmt.Errorf("read ca_path %s on %s: %w", u.CAPath, h.Name, err)
		if errors.Is(err, errTooLarge) {
			return nil, err
		}
		// The CA may be what an earlier step writes.
		return nil, tasks.DependsOnEarlier(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(buf.Bytes()) {
		return nil, fmt.Errorf("ca_path %s on %s holds no PEM certificate", u.CAPath, h.Name)
	}
	return pool, nil
}

var errTooLarge = errors.New("larger than 4 MiB, more than a CA bundle")

// limited is a writer that refuses more than n bytes.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if len(p) > l.n {
		return 0, errTooLarge
	}
	l.n -= len(p)
	return l.w.Write(p)
}
