package runbook_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/runbookdev/runbook/internal/decode/decodetest"
	"github.com/runbookdev/runbook/internal/runbook"
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
		decodetest.CheckErrors(t, err, data, true)
	})
}
