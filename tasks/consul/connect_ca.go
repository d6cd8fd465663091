package consul

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "consul_connect_ca",
		Doc: "The signing key of Consul's built-in Connect CA: the active root's public key must be the given private " +
			"key's. To rotate, the task writes the CA configuration (provider consul, the new PrivateKey, the other " +
			"settings kept) and Consul makes a new root, cross-signed by the old one, so that proxies that do not " +
			"trust the new root yet still accept the new leaves (docs: secure-mesh/certificate/rotate). It waits " +
			"until the new root is active, then until the leaf certificate of every service with a sidecar on the " +
			"host's agent is issued by it; check mode also reports leaves not yet reissued. Registers old_root and " +
			"new_root (root IDs, the same when nothing changed) and root (the active one). Run it on every host with sidecars, or once where the " +
			"rotation is made and then on the others to wait. The token needs operator = \"write\" and service " +
			"\"write\" on those services. The key is never printed.",
		New: func() tasks.Task { return new(ConnectCA) },
	})
}

// ConnectCA is the `consul_connect_ca` task's parameters.
type ConnectCA struct {
	Agent      `yaml:",inline"`
	PrivateKey string        `yaml:"private_key" required:"true" doc:"the root's signing key: a PEM ECDSA P-256 private key (EC PRIVATE KEY or PRIVATE KEY), e.g. {{ tls_key \"consul/connect_ca\" }}"`
	Timeout    time.Duration `yaml:"timeout" doc:"how long to wait for the new root, then for the sidecars' leaves; default 1m"`
}

const caPoll = 250 * time.Millisecond

// Provision sets the defaults.
func (ca *ConnectCA) Provision() error {
	if ca.Timeout == 0 {
		ca.Timeout = time.Minute
	}
	return nil
}

// Validate checks the key, never quoting it.
func (ca *ConnectCA) Validate() error {
	if _, err := ca.publicKey(); err != nil {
		return err
	}
	if ca.Timeout < 0 {
		return fmt.Errorf("timeout must be positive, got %s", ca.Timeout)
	}
	return nil
}

// publicKey parses private_key; its errors say what the key is, never
// what it holds.
func (ca *ConnectCA) publicKey() (*ecdsa.PublicKey, error) {
	const want = "private_key must be a PEM ECDSA P-256 private key (EC PRIVATE KEY or PRIVATE KEY; not shown: it is a secret)"
	block, _ := pem.Decode([]byte(strings.TrimSpace(ca.PrivateKey)))
	if block == nil {
		return nil, errors.New(want + ": no PEM block")
	}
	var key any
	var err error
	switch block.Type {
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("%s: got a %s block", want, block.Type)
	}
	if err != nil {
		return nil, errors.New(want + ": it does not parse")
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: got a %T", want, key)
	}
	if ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("%s: got curve %s", want, ec.Curve.Params().Name)
	}
	return &ec.PublicKey, nil
}

// Check compares the active root's key with the given one, then the
// leaves of the host's sidecars with the active root.
func (ca *ConnectCA) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	pub, err := ca.publicKey()
	if err != nil {
		return nil, err
	}
	c, err := ca.client(h)
	if err != nil {
		return nil, err
	}
	root, err := ca.activeRoot(ctx, h, c)
	if err != nil {
		return nil, tasks.DependsOnEarlier(err)
	}
	if !pub.Equal(root.cert.PublicKey) {
		cfg, _, err := c.Connect().CAGetConfig((&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return nil, ca.wrap(h, "read the Connect CA configuration", err)
		}
		if cfg.Provider != "consul" {
			return nil, fmt.Errorf("the Connect CA of the agent on %s is provider %s, not consul: this task rotates the built-in CA's key only", h.Name, cfg.Provider)
		}
		change := &tasks.Change{Summary: []string{"~ rotate the Connect CA root to a new key (root " + root.ID + " -> new)"}}
		change.Apply = func(ctx context.Context) (tasks.Done, error) {
			return ca.rotate(ctx, h, c, pub, root.ID, cfg)
		}
		return change, nil
	}
	stale, err := staleLeaves(ctx, c, root)
	if err != nil {
		return nil, ca.wrap(h, "read the leaf certificates of the sidecars", err)
	}
	result := map[string]any{"old_root": root.ID, "new_root": root.ID, "root": root.ID}
	if len(stale) == 0 {
		return &tasks.Change{Result: result}, nil
	}
	change := &tasks.Change{Result: result, Summary: []string{"~ wait until the leaf certificates of " + strings.Join(stale, ", ") + " are issued by root " + root.ID}}
	change.Apply = func(ctx context.Context) (tasks.Done, error) {
		return tasks.Done{Result: result}, ca.waitLeaves(ctx, h, c, root)
	}
	return change, nil
}

// rotate writes the new key into the CA configuration, keeping the other
// settings, then waits for its root and the leaves it signs.
func (ca *ConnectCA) rotate(ctx context.Context, h *tasks.Host, c *api.Client, pub *ecdsa.PublicKey, oldID string, cfg *api.CAConfig) (tasks.Done, error) {
	config := maps.Clone(cfg.Config)
	if config == nil {
		config = map[string]any{}
	}
	// A RootCert of an earlier key would not match the new one: Consul
	// makes the root from the key when none is given.
	delete(config, "RootCert")
	config["PrivateKey"] = ca.PrivateKey
	config["PrivateKeyType"], config["PrivateKeyBits"] = "ec", 256
	if _, err := c.Connect().CASetConfig(&api.CAConfig{Provider: "consul", Config: config}, (&api.WriteOptions{}).WithContext(ctx)); err != nil {
		return tasks.Done{}, ca.wrap(h, "write the Connect CA configuration", err)
	}
	var root *caRoot
	err := ca.poll(ctx, h, "a new active root with the key", func() (string, error) {
		r, err := ca.activeRoot(ctx, h, c)
		if err != nil {
			return "", err
		}
		if r.ID == oldID || !pub.Equal(r.cert.PublicKey) {
			return "the active root is " + r.ID, nil
		}
		root = r
		return "", nil
	})
	if err != nil {
		return tasks.Done{}, err
	}
	done := tasks.Done{
		Summary: []string{"~ rotated the Connect CA root " + oldID + " -> " + root.ID},
		Result:  map[string]any{"old_root": oldID, "new_root": root.ID, "root": root.ID},
	}
	return done, ca.waitLeaves(ctx, h, c, root)
}

func (ca *ConnectCA) waitLeaves(ctx context.Context, h *tasks.Host, c *api.Client, root *caRoot) error {
	return ca.poll(ctx, h, "the sidecars' leaf certificates issued by root "+root.ID, func() (string, error) {
		stale, err := staleLeaves(ctx, c, root)
		if err != nil {
			return "", ca.wrap(h, "read the leaf certificates of the sidecars", err)
		}
		if len(stale) > 0 {
			return "not yet for " + strings.Join(stale, ", "), nil
		}
		return "", nil
	})
}

// poll calls look until it says nothing is missing, or the timeout passes.
func (ca *ConnectCA) poll(ctx context.Context, h *tasks.Host, what string, look func() (missing string, err error)) error {
	deadline := time.Now().Add(ca.Timeout)
	for {
		missing, err := look()
		if err != nil || missing == "" {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait for %s on the agent on %s: after %s, %s", what, h.Name, ca.Timeout, missing)
		}
		h.Say("Connect CA: waiting for %s: %s", what, missing)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(caPoll):
		}
	}
}

type caRoot struct {
	ID   string
	cert *x509.Certificate
}

func (ca *ConnectCA) activeRoot(ctx context.Context, h *tasks.Host, c *api.Client) (*caRoot, error) {
	roots, _, err := c.Connect().CARoots((&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, ca.wrap(h, "read the Connect CA roots", err)
	}
	for _, r := range roots.Roots {
		if r.ID != roots.ActiveRootID {
			continue
		}
		block, _ := pem.Decode([]byte(r.RootCertPEM))
		if block == nil {
			return nil, fmt.Errorf("read the Connect CA roots through the agent on %s: root %s has no PEM certificate", h.Name, r.ID)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("read the Connect CA roots through the agent on %s: root %s: %w", h.Name, r.ID, err)
		}
		return &caRoot{ID: r.ID, cert: cert}, nil
	}
	return nil, fmt.Errorf("read the Connect CA roots through the agent on %s: no active root (is Connect enabled on the servers?)", h.Name)
}

// staleLeaves names the services with a sidecar on the agent whose leaf
// certificate the root did not issue.
func staleLeaves(ctx context.Context, c *api.Client, root *caRoot) ([]string, error) {
	services, err := c.Agent().ServicesWithFilterOpts(`Kind == "connect-proxy"`, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("list the sidecars: %w", err)
	}
	seen := map[string]bool{}
	var stale []string
	for _, s := range services {
		if s.Proxy == nil || s.Proxy.DestinationServiceName == "" || seen[s.Proxy.DestinationServiceName] {
			continue
		}
		name := s.Proxy.DestinationServiceName
		seen[name] = true
		leaf, _, err := c.Agent().ConnectCALeaf(name, (&api.QueryOptions{}).WithContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("read the leaf certificate of %s: %w", name, err)
		}
		if ok, err := issuedBy(leaf.CertPEM, root.cert); err != nil {
			return nil, fmt.Errorf("read the leaf certificate of %s: %w", name, err)
		} else if !ok {
			stale = append(stale, name)
		}
	}
	return sorted(stale), nil
}

// issuedBy reports whether the leaf (with the intermediates its PEM
// carries) chains to root alone: a leaf of the old root, even through
// the cross-signed certificate, does not.
func issuedBy(leafPEM string, root *x509.Certificate) (bool, error) {
	var certs []*x509.Certificate
	for rest := []byte(leafPEM); ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return false, err
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return false, errors.New("no PEM certificate")
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AddCert(root)
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil, nil
}

// wrap says what was being done, hiding the key and the token.
func (ca *ConnectCA) wrap(h *tasks.Host, doing string, err error) error {
	if statusIs(err, 403) {
		return hide(fmt.Errorf("%s through the agent on %s: the token may not (it needs operator = \"write\", and service \"write\" on the sidecars' services): %w", doing, h.Name, err), ca.Token, ca.PrivateKey)
	}
	return hide(fmt.Errorf("%s through the agent on %s: %w", doing, h.Name, err), ca.Token, ca.PrivateKey)
}
