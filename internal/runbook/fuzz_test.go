package runbook_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"gopkg.in/yaml.v3"
)

// FuzzLoad feeds the loader any file: it must refuse what is wrong with
// errors that say where, never echo a long line of the file, and finish
// (aliases are budgeted, merges resolved once). Seeds: the repository's
// runbooks, the test runbooks, and merge and alias bombs. Run with
//
//	go test -run XXX -fuzz FuzzLoad -fuzztime 60s ./internal/runbook/
func FuzzLoad(f *testing.F) {
	for _, pattern := range []string{"../../runbooks/*.yaml", "../../runbooks/examples/*.yaml", "testdata/*/*.yaml", "testdata/good/lib/*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	for _, s := range []string{
		MergeBomb(9), MergeBomb(30), AliasBomb(9), AliasBomb(30),
		"steps:\n  - {hosts: all, task: command, with: {cmd: 'true'}}\n---\nsteps: []\n",
		"vars: {t: !vault abc}\nsteps:\n  - {hosts: all, task: command, with: {cmd: 'true'}, timeout: 1e-12, max_fail_percentage: .nan}\n",
		"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n",
		"steps:\n  - {hosts: all, task: file, with: &w {path: !secret \"{{ .p }}\"}}\n  - {hosts: all, task: file, with: {<<: *w, mode: !secret x}}\n",
		"handlers:\n  - {name: \"restart\\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\", task: command, with: {cmd: 'true'}}\nsteps:\n  - {hosts: \"web b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\", task: command, with: {cmd: 'true'}, when: \"{{ .x }} b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\"}\n",
		"vars: {pw: !secret \"{{ hunter2pw\"}\nsteps:\n  - {hosts: all, task: file, retries: !secret hunter2pwA, timeout: !secret hunter2pwB, serial: !secret hunter2pwC, with: {path: /x, mode: !secret hunter2pwD}}\n",
	} {
		f.Add([]byte(s))
	}
	file := filepath.Join(f.TempDir(), "f.yaml") // inputs are tried one at a time
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		rb, err := runbook.Load(file)
		if err == nil {
			for _, s := range rb.Steps {
				if s.Pos.File == "" || s.Pos.Line == 0 {
					t.Errorf("step %q has no position", s.Title())
				}
			}
			return
		}
		checkErrors(t, err, data)
	})
}

// checkErrors asserts that every error names its file, and a line unless
// YAML's parser gave none, and that no long run of data is echoed.
func checkErrors(t *testing.T, err error, data []byte) {
	t.Helper()
	var list *decode.List
	errs := []error{err}
	if errors.As(err, &list) {
		errs = list.Errors()
	}
	for _, e := range errs {
		var pe *decode.Error
		if !errors.As(e, &pe) {
			t.Errorf("error without a position: %v", e)
			continue
		}
		if pe.Pos.File == "" || pe.Pos.Line == 0 && !strings.HasPrefix(pe.Msg, "YAML syntax: ") {
			t.Errorf("error without a line: %v", e)
		}
	}
	msg := err.Error()
	// Quote shows at most 40 characters of a value, and the words around
	// it may match the key before it: no 64 in a row of a line of the
	// file may appear.
	const run = 64
	shown := map[string]bool{}
	for i := 0; i+run <= len(msg); i++ {
		shown[msg[i:i+run]] = true
	}
	for _, line := range strings.Split(string(data), "\n") {
		for i := 0; i+run <= len(line); i++ {
			if shown[line[i:i+run]] {
				t.Errorf("error echoes %q from the file", line[i:i+run])
				break
			}
		}
	}
	for _, s := range secrets(data) {
		if strings.Contains(msg, s) {
			t.Errorf("error shows the secret %q", s)
		}
	}
}

// secrets lists the values tagged !secret in data that are long enough
// to tell apart and written nowhere else in it.
func secrets(data []byte) []string {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!secret" && len(n.Value) >= 8 && bytes.Count(data, []byte(n.Value)) == 1 {
			out = append(out, n.Value)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return out
}
