// Package consul holds the Consul task modules: consul_service,
// consul_intention, consul_intentions, consul_health, consul_cluster and
// the ACL modules consul_acl_bootstrap, consul_acl_policy and
// consul_acl_token, consul_maintenance (drain an instance), and the
// rotations consul_keyring (gossip) and
// consul_connect_ca (the Connect CA's root key). They talk to each host's local agent with
// github.com/hashicorp/consul/api through the SSH connection, so the
// agent's HTTP API never needs to listen beyond the host's loopback.
package consul

import (
	"net/http"
	"time"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/tasks"
)

// Agent is where the agent's HTTP API listens on the host.
type Agent struct {
	Address string `yaml:"agent" doc:"the local agent's HTTP address, on the host; default 127.0.0.1:8500"`
	Token   string `yaml:"token" doc:"ACL token, if ACLs are on (mark it !secret)"`
}

// client returns an API client whose connections start on the host.
func (a Agent) client(h *tasks.Host) (*api.Client, error) {
	cfg := api.DefaultNonPooledConfig()
	cfg.Address, cfg.Scheme, cfg.Token = a.addr(), "http", a.Token
	cfg.HttpClient = httpClient(h)
	return api.NewClient(cfg)
}

func (a Agent) addr() string {
	if a.Address == "" {
		return "127.0.0.1:8500"
	}
	return a.Address
}

// httpClient is an HTTP client whose connections start on the host.
func httpClient(h *tasks.Host) *http.Client {
	return &http.Client{
		Transport: &http.Transport{DialContext: h.Conn.DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second},
		Timeout:   30 * time.Second,
	}
}
