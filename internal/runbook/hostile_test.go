package runbook_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/decode/decodetest"
	"github.com/runbookdev/runbook/internal/runbook"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// MergeBomb is a runbook of depth+1 steps, each merging the one before ten
// times: 10^depth walks if merges are walked wherever they appear.
func MergeBomb(depth int) string {
	var b strings.Builder
	b.WriteString("steps:\n  - &s0 {name: x, hosts: all, task: command, with: {cmd: 'true'}}\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "  - &s%d {<<: [%s]}\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*s%d, ", i-1), 10), ", "))
	}
	return b.String()
}

// AliasBomb is the billion laughs in a runbook's vars.
func AliasBomb(depth int) string {
	var b strings.Builder
	b.WriteString("vars:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "  l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	b.WriteString("steps:\n  - {hosts: all, task: command, with: {cmd: 'true'}}\n")
	return b.String()
}

func TestMergeBombLoads(t *testing.T) {
	p := writeFile(t, "bomb.yaml", MergeBomb(9))
	var rb *runbook.Runbook
	var err error
	decodetest.Within(t, 30*time.Second, func() { rb, err = runbook.Load(p) })
	if err != nil {
		t.Fatal(err)
	}
	if len(rb.Steps) != 10 || rb.Steps[9].Name != "x" {
		t.Errorf("loaded %d steps", len(rb.Steps))
	}
}

func TestAliasBombRefused(t *testing.T) {
	p := writeFile(t, "bomb.yaml", AliasBomb(9))
	var err error
	decodetest.Within(t, 30*time.Second, func() { _, err = runbook.Load(p) })
	want := "bomb.yaml:6:47: *l3 and the aliases before it expand to more than 100000 values"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := map[string]struct{ in, want string }{
		"second document": {
			"steps:\n  - {hosts: all, task: command, with: {cmd: 'true'}}\n---\nsteps:\n  - {hosts: all, task: command, with: {cmd: 'rm -rf /tmp/x'}}\n",
			"f.yaml:3:1: a second YAML document starts here, and only the first is read",
		},
		"unknown tag": {
			"vars: {token: !vault abc}\nsteps:\n  - {hosts: all, task: command, with: {cmd: 'true'}}\n",
			`f.yaml:1:15: unknown YAML tag "!vault"`,
		},
		"max_fail_percentage .nan": {
			"steps:\n  - {hosts: all, task: command, with: {cmd: 'true'}, max_fail_percentage: .nan}\n",
			`f.yaml:2:75: want a finite number, got ".nan"`,
		},
		"max_fail_percentage .inf": {
			"steps:\n  - {hosts: all, task: command, with: {cmd: 'true'}, max_fail_percentage: .inf}\n",
			`f.yaml:2:75: want a finite number, got ".inf"`,
		},
		"max_fail_percentage negative": {
			"steps:\n  - {hosts: all, task: command, with: {cmd: 'true'}, max_fail_percentage: -1}\n",
			`f.yaml:2:75: max_fail_percentage must be between 0 and 100`,
		},
		"max_fail_percentage above 100": {
			"steps:\n  - {hosts: all, task: command, with: {cmd: 'true'}, max_fail_percentage: 100.5}\n",
			`f.yaml:2:75: max_fail_percentage must be between 0 and 100`,
		},
		"timeout rounds to zero": {
			"steps:\n  - {hosts: all, task: command, with: {cmd: 'true'}, timeout: 1e-12}\n",
			`f.yaml:2:63: "1e-12" is less than a nanosecond`,
		},
		"negative delay": {
			"steps:\n  - {hosts: all, task: command, with: {cmd: 'true'}, delay: -2s}\n",
			`f.yaml:2:61: want a duration of 0 or more, got "-2s"`,
		},
		"task timeout NaN seconds": {
			"steps:\n  - {hosts: all, task: wait, with: {port: 22, timeout: nan}}\n",
			`f.yaml:2:56: task wait: want a duration such as 30s or 5m, got "nan"`,
		},
		"unknown tag in parameters": {
			"steps:\n  - {hosts: all, task: command, with: {cmd: !sh 'true'}}\n",
			`f.yaml:2:45: unknown YAML tag "!sh"`,
		},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := runbook.Load(writeFile(t, "f.yaml", tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// Load-time errors about a !secret value say so instead of quoting it.
func TestSecretsNotQuoted(t *testing.T) {
	in := `vars:
  broken: !secret "{{ hunter2pw"
steps:
  - hosts: all
    task: file
    retries: !secret hunter2pw
    timeout: !secret hunter2pw
    serial: !secret hunter2pw
    with: {path: /x, mode: !secret hunter2pw}
  - {hosts: all, task: file, with: {path: !secret "{{ hunter2pw"}}
`
	_, err := runbook.Load(writeFile(t, "f.yaml", in))
	if err == nil {
		t.Fatal("loaded")
	}
	for _, want := range []string{
		"f.yaml:2:11: variable \"broken\": a secret value holds a template that does not parse",
		"f.yaml:6:14: want a whole number, got a secret value",
		"f.yaml:7:14: want a duration such as 30s or 5m, got a secret value",
		"f.yaml:8:13: want a batch, got a secret value",
		"f.yaml:9:28: task file: want a mode, got a secret value",
		"f.yaml:10:43: a secret value holds a template that does not parse",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q", want)
		}
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error quotes the secret:\n%v", err)
	}
}

// A template reached through an alias is a template: the parameters are
// not validated before rendering, as when it is written in place.
func TestTemplateThroughAlias(t *testing.T) {
	in := "vars:\n  p: &p \"{{ .dir }}/x\"\nsteps:\n  - {hosts: all, task: file, with: {path: *p, content: x}}\n"
	if _, err := runbook.Load(writeFile(t, "f.yaml", in)); err != nil {
		t.Fatal(err)
	}
}

// Merge keys work in vars as anywhere else.
func TestMergeKeysInVars(t *testing.T) {
	in := "vars:\n  <<: {region: eu, tier: web}\n  tier: db\nsteps:\n  - {hosts: all, task: command, with: {cmd: 'true'}}\n"
	rb, err := runbook.Load(writeFile(t, "f.yaml", in))
	if err != nil {
		t.Fatal(err)
	}
	if rb.Vars["region"].Value != "eu" || rb.Vars["tier"].Value != "db" || len(rb.Vars) != 2 {
		t.Errorf("vars = %+v", rb.Vars)
	}
}

// Names, patterns and conditions are values from the file too: errors
// quote the start of their first line only.
func TestLongValuesQuotedShort(t *testing.T) {
	const body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
	in := `handlers:
  - {name: "restart\n` + body + `", task: command, with: {cmd: 'true'}}
  - {name: "restart\n` + body + `", task: command, with: {cmd: 'true'}}
steps:
  - {hosts: "web ` + body + `", task: command, with: {cmd: 'true'}}
  - {hosts: all, task: command, with: {cmd: 'true'}, when: "{{ .x }} ` + body + `"}
`
	_, err := runbook.Load(writeFile(t, "f.yaml", in))
	if err == nil {
		t.Fatal("loaded")
	}
	if strings.Contains(err.Error(), body[40:60]) {
		t.Errorf("error quotes a long value whole:\n%v", err)
	}
	for _, want := range []string{`handler "restart"... is defined twice`, `hosts: "web b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAE"...:`, `condition "{{ .x }} b3BlbnNzaC1rZXktdjEAAAAABG5vbmU"...`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

// A module's own check of its parameters may quote them: not a secret.
func TestValidateHidesSecrets(t *testing.T) {
	in := "steps:\n  - {hosts: all, task: file, with: {path: &p !secret relative/s3cr3t-path}}\n  - {hosts: all, task: file, with: {path: *p}}\n  - {hosts: all, task: file, with: !secret {path: relative/s3cr3t-path2}}\n"
	_, err := runbook.Load(writeFile(t, "f.yaml", in))
	if err == nil {
		t.Fatal("loaded")
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Count(err.Error(), `path "********" must be absolute`) != 3 {
		t.Errorf("want the secret path masked in 3 errors:\n%v", err)
	}
}
