package consultest_test

import (
	"errors"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/consultest"
)

func TestConfig(t *testing.T) {
	a := consultest.Start(t, consultest.Config(`node_meta { rack = "r7" }`))
	self, err := a.Client.Agent().Self()
	if err != nil {
		t.Fatal(err)
	}
	meta, _ := self["Meta"]["rack"].(string)
	if meta != "r7" {
		t.Fatalf("node meta rack = %q, want r7 (from the extra config)", meta)
	}
}

func TestACLs(t *testing.T) {
	const management = "7c6e1f7a-1d64-4c5e-9a57-3d0b2f7f2b10"
	a := consultest.Start(t, consultest.ACLs(management))
	self, _, err := a.Client.ACL().TokenReadSelf(nil)
	if err != nil || len(self.Policies) != 1 || self.Policies[0].Name != "global-management" {
		t.Fatalf("the client's token: %+v, %v", self, err)
	}
	cfg := api.DefaultConfig()
	cfg.Address, cfg.Token = a.Addr, ""
	anonymous, err := api.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = anonymous.KV().Put(&api.KVPair{Key: "k", Value: []byte("v")}, nil)
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != 403 {
		t.Fatalf("anonymous KV write: %v, want 403 (default deny)", err)
	}
}

func TestACLsNotBootstrapped(t *testing.T) {
	a := consultest.Start(t, consultest.ACLs(""))
	tok, _, err := a.Client.ACL().Bootstrap()
	if err != nil || tok.SecretID == "" {
		t.Fatalf("bootstrap: %+v, %v", tok, err)
	}
}
