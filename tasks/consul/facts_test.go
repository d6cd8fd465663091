package consul_test

import (
	"fmt"
	"net"
	"testing"

	"github.com/runbookdev/runbook/internal/consultest"
	_ "github.com/runbookdev/runbook/tasks/debug"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// consul_facts reads the running agent, in check mode too, and an agent
// that is not there is running: false rather than a failure.
func TestFactsReadTheRunningAgent(t *testing.T) {
	agent := consultest.Start(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()
	env := tasktest.New(t)
	rb := fmt.Sprintf(`
steps:
  - {name: facts, hosts: h1, task: consul_facts, with: {agent: %s}, register: f}
  - name: seen
    hosts: h1
    task: debug
    with: {msg: "running={{ .f.running }} server={{ .f.server }} leader={{ .f.leader }} encrypted={{ .f.encrypted }} tls={{ .f.tls }} acl={{ .f.acl }}"}
  - {name: nothing, hosts: h1, task: consul_facts, with: {agent: %s}, register: g}
  - {name: nothing seen, hosts: h1, task: debug, with: {msg: "running={{ .g.running }} server={{ .g.server }} encrypted={{ .g.encrypted }} acl={{ .g.acl }}"}}
`, agent.Addr, closed)
	for _, args := range [][]string{{"--check"}, nil} {
		r := env.Apply(rb, args...)
		if r.Exit != tasktest.ExitOK {
			t.Fatalf("apply %v: %s", args, r)
		}
		want := "running=true server=true leader=true encrypted=false tls=false acl=false"
		if got := r.Result("seen").Message; got != want {
			t.Errorf("apply %v: facts %q, want %q", args, got, want)
		}
		if got := r.Result("nothing seen").Message; got != "running=false server=false encrypted=false acl=false" {
			t.Errorf("apply %v: an agent that is not there: %q", args, got)
		}
		if st := r.Result("facts").Status; st != "ok" {
			t.Errorf("apply %v: consul_facts reported %s, want ok", args, st)
		}
	}
}

// An agent whose ACLs are on but not bootstrapped yet (a rollout stopped
// between turning them on and the bootstrap) answers 403 to any token: it
// runs, with ACLs, and the rest cannot be read. That is a fact, not a
// failure, so the rollout can go on from there.
func TestFactsOfAnAgentWhoseACLsAreNotBootstrapped(t *testing.T) {
	agent := consultest.Start(t, consultest.ACLs(""))
	env := tasktest.New(t)
	rb := fmt.Sprintf(`
steps:
  - {name: facts, hosts: h1, task: consul_facts, with: {agent: %s, token: !secret 6b2c9a55-2c3e-4f7b-9d0e-2f1c3a4b5c6d}, register: f}
  - {name: seen, hosts: h1, task: debug, with: {msg: "running={{ .f.running }} acl={{ .f.acl }} readable={{ .f.readable }} encrypted={{ .f.encrypted }}"}}
`, agent.Addr)
	r := env.Apply(rb)
	if r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if got, want := r.Result("seen").Message, "running=true acl=true readable=false encrypted=false"; got != want {
		t.Errorf("facts %q, want %q", got, want)
	}
}
