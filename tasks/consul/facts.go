package consul

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/tasks"
	"golang.org/x/crypto/ssh"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "consul_facts",
		Doc: "Reads how the host's Consul agent runs now (not what its configuration file says): whether it runs, " +
			"is a server or the leader, encrypts gossip, speaks TLS on RPC, has ACLs on. It changes nothing and runs in " +
			"check mode too; register it to decide what a rollout must do (e.g. the passes that turn on gossip encryption " +
			"on a running cluster). Registers true or false for running, server, leader, encrypted, gossip_verify_incoming, " +
			"gossip_verify_outgoing, tls, tls_verify_incoming, tls_verify_outgoing, verify_server_hostname, auto_encrypt, " +
			"acl, acl_default_deny and update_check (no text: given a token, what a step registers is secret). An agent that does not answer is running: false (every fact false), not an error; one whose ACLs deny the token (before the ACL bootstrap, any token) is running and acl, with readable: false and the rest unknown (false).",
		New: func() tasks.Task { return new(Facts) },
	})
}

// Facts is the `consul_facts` task's parameters.
type Facts struct {
	Agent `yaml:",inline"`
}

// Check reads the agent's runtime configuration.
func (f *Facts) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, err := f.client(h)
	if err != nil {
		return nil, err
	}
	self, err := c.Agent().Self()
	if err != nil {
		if notRunning(err) {
			return &tasks.Change{Result: agentFacts(nil)}, nil
		}
		var se api.StatusError
		if errors.As(err, &se) && se.Code == 403 {
			// ACLs are on and the token may not read the agent: before
			// the ACL bootstrap, no token may. It runs, with ACLs; the
			// rest is not known.
			f := agentFacts(nil)
			f["running"], f["acl"], f["readable"] = true, true, false
			return &tasks.Change{Result: f}, nil
		}
		return nil, fmt.Errorf("read the agent's configuration: %w", err)
	}
	return &tasks.Change{Result: agentFacts(self)}, nil
}

// notRunning tells an agent that is not there (nothing listens on the
// host, or an earlier step has not installed it) from one that answers
// badly: the host's sshd refuses to open the forwarded connection, or,
// on the controller itself, the dial is refused.
func notRunning(err error) bool {
	var open *ssh.OpenChannelError
	if errors.As(err, &open) {
		return open.Reason == ssh.ConnectionFailed
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// agentFacts reads the agent's /v1/agent/self; nil is an agent that does
// not run, every fact false.
func agentFacts(self map[string]map[string]any) map[string]any {
	cfg, dbg, stats := self["Config"], self["DebugConfig"], self["Stats"]
	rpc := mapAt(dbg, "TLS", "InternalRPC")
	acl := mapAt(dbg, "ACLResolverSettings")
	return map[string]any{
		"running":                self != nil,
		"readable":               self != nil,
		"server":                 cfg["Server"] == true,
		"leader":                 mapAt(stats, "consul")["leader"] == "true",
		"encrypted":              mapAt(stats, "serf_lan")["encrypted"] == "true",
		"gossip_verify_incoming": dbg["EncryptVerifyIncoming"] == true,
		"gossip_verify_outgoing": dbg["EncryptVerifyOutgoing"] == true,
		"tls":                    rpc["CertFile"] != "" && rpc["CertFile"] != nil || dbg["AutoEncryptTLS"] == true,
		"tls_verify_incoming":    rpc["VerifyIncoming"] == true,
		"tls_verify_outgoing":    rpc["VerifyOutgoing"] == true,
		"verify_server_hostname": rpc["VerifyServerHostname"] == true,
		"auto_encrypt":           dbg["AutoEncryptTLS"] == true || dbg["AutoEncryptAllowTLS"] == true,
		"acl":                    dbg["ACLsEnabled"] == true,
		"acl_default_deny":       acl["ACLDefaultPolicy"] == "deny",
		"update_check":           dbg["DisableUpdateCheck"] != true,
	}
}

// mapAt walks nested JSON objects; a missing one is empty.
func mapAt(m map[string]any, keys ...string) map[string]any {
	for _, k := range keys {
		next, _ := m[k].(map[string]any)
		m = next
	}
	return m
}
