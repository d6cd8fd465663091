package facts_test

import (
	"context"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/facts"
	"github.com/runbookdev/runbook/internal/lab"
	"github.com/runbookdev/runbook/internal/labtest"
	"github.com/runbookdev/runbook/internal/transport"
)

func TestFactsOnALabHost(t *testing.T) {
	l := labtest.Open(t)
	hosts, _, kh := labtest.Hosts(t, l, lab.Full, "facts00")
	h := hosts[0]
	pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{kh}}, Timeout: 10 * time.Second}
	defer pool.Close()
	c, err := pool.Get(context.Background(), transport.Target{Name: h.Name, Address: h.Public.String(), User: "root", KeyFile: l.KeyFile()})
	if err != nil {
		t.Fatal(err)
	}
	f, err := facts.Gather(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	os := f["os"].(map[string]any)
	checks := map[string][2]any{
		"hostname":          {f["hostname"], "facts00"},
		"os.family":         {os["family"], "debian"},
		"os.version":        {os["version"], "12"},
		"default_interface": {f["default_interface"], "eth0"},
		"default_ipv4":      {f["default_ipv4"], h.Public.String()},
	}
	for name, c := range checks {
		if c[0] != c[1] {
			t.Errorf("%s = %v, want %v", name, c[0], c[1])
		}
	}
	eth1 := f["interfaces"].(map[string]any)["eth1"].(map[string]any)["ipv4"].([]any)
	if len(eth1) != 1 || eth1[0] != h.Private.String() {
		t.Errorf("eth1 = %v, want the private address %s", eth1, h.Private)
	}
	if f["arch"] == "" {
		t.Error("no arch")
	}
}
