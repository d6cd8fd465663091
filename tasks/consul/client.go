// Package consul holds the Consul task modules: consul_service,
// consul_intention, consul_health and consul_cluster. They talk to each
// host's local agent with github.com/hashicorp/consul/api through the SSH
// connection, so the agent's HTTP API never needs to listen beyond the
// host's loopback.
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
	addr := a.Address
	if addr == "" {
		addr = "127.0.0.1:8500"
	}
	cfg := api.DefaultNonPooledConfig()
	cfg.Address, cfg.Scheme, cfg.Token = addr, "http", a.Token
	cfg.HttpClient = &http.Client{
		Transport: &http.Transport{DialContext: h.Conn.DialContext, MaxIdleConnsPerHost: 2, IdleConnTimeout: 30 * time.Second},
		Timeout:   30 * time.Second,
	}
	return api.NewClient(cfg)
}
