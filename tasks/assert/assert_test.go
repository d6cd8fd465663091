package assert_test

import (
	"strings"
	"testing"

	_ "github.com/runbookdev/runbook/tasks/assert"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

func TestAssert(t *testing.T) {
	env := tasktest.New(t)
	good := `
steps:
  - {name: out, hosts: h1, task: assert, with: {cmd: "echo hello world", stdout_contains: [hello], stdout_excludes: [bye], stdout_matches: "w.rld"}}
  - {name: refused, hosts: h1, task: assert, with: {cmd: "exit 1", fails: true}}
  - {name: rc, hosts: h1, task: assert, with: {cmd: "exit 3", rc: 3}}
`
	for _, args := range [][]string{{"--check"}, nil} {
		if r := env.Apply(good, args...); r.Exit != 0 {
			t.Fatalf("%v: %s", args, r)
		}
	}
	r := env.Apply("steps:\n  - {name: bad, hosts: h1, task: assert, with: {cmd: \"echo open\", fails: true, stdout_excludes: [open], msg: port 8181 must be refused}}\n", "--check")
	msg := r.Result("bad").Message
	if r.Exit != tasktest.ExitError || !strings.HasPrefix(msg, "port 8181 must be refused: assertion failed") || !strings.Contains(msg, `stdout contains "open"`) {
		t.Fatalf("%q\n%s", msg, r)
	}
}
