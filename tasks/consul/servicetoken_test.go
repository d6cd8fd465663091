package consul_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/consultest"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// A service registered before ACLs were on has no token; once the runbook
// gives it one, the registration is out of date and is made again with
// it. The token itself is never shown, only that it changed.
func TestServiceTokenIsPartOfTheRegistration(t *testing.T) {
	agent := consultest.Start(t)
	env := tasktest.New(t)
	step := `
steps:
  - name: fcs
    hosts: h1
    task: consul_service
    with: {agent: %s, name: fcs, port: 8181, sidecar: true %s}
`
	plain := fmt.Sprintf(step, agent.Addr, "")
	if r := env.Apply(plain); r.Exit != tasktest.ExitOK {
		t.Fatalf("register without a token: %s", r)
	}
	const tok = "6b2c9a55-2c3e-4f7b-9d0e-2f1c3a4b5c6d"
	withToken := fmt.Sprintf(step, agent.Addr, ", service_token: !secret "+tok)
	r := env.Apply(withToken, "--check")
	if r.Exit != tasktest.ExitDrift || changes(r, "fcs") != "~ registered with another ACL token" {
		t.Fatalf("check with a token: %s", r)
	}
	if strings.Contains(r.String(), tok) {
		t.Fatalf("the token is shown: %s", r)
	}
	if r = env.Apply(withToken); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply with a token: %s", r)
	}
	if r = env.Apply(withToken, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after: %s", r)
	}
	other := fmt.Sprintf(step, agent.Addr, ", service_token: !secret 0e1d2c3b-4a59-4687-9a0b-1c2d3e4f5a6b")
	if r = env.Apply(other, "--check"); r.Exit != tasktest.ExitDrift {
		t.Fatalf("check with a rotated token: %s", r)
	}
	for _, id := range []string{"fcs", "fcs-sidecar-proxy"} {
		svc, _, err := agent.Client.Agent().Service(id, nil)
		if err != nil || svc == nil {
			t.Fatalf("%s: %v", id, err)
		}
		if strings.Contains(fmt.Sprint(svc.Meta), tok) {
			t.Fatalf("%s's meta holds the token: %v", id, svc.Meta)
		}
	}
}
