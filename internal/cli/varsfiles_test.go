package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/cli"
)

// files writes files under dir, making directories as needed.
func files(t *testing.T, dir string, content map[string]string) {
	t.Helper()
	for name, c := range content {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// vars_files on a runbook and on an import: each file's variables win over
// the vars: beside it, later files over earlier ones, as a play's vars_files
// do in Ansible; and the import's over the importing runbook's.
func TestVarsFiles(t *testing.T) {
	f := newFleet(t, "")
	dir, out := t.TempDir(), t.TempDir()
	files(t, dir, map[string]string{
		"site.yaml": `vars: {a: site, b: site, c: site, d: site, e: site}
vars_files: [vars/one.yaml, vars/two.yaml]
steps:
  - name: outer
    hosts: web01
    task: file
    with: {path: "` + out + `/outer", content: "a={{ .a }} b={{ .b }} c={{ .c }}"}
  - import: lib/lib.yaml
    vars: {d: import, h: import}
    vars_files: [vars/imp.yaml]
  - name: secret
    hosts: web01
    task: file
    with: {path: "` + out + `/secret", content: "{{ .token }}"}
`,
		"vars/one.yaml": "b: one\nc: one\ntoken: !secret tok-from-a-file\n",
		"vars/two.yaml": "c: two\n",
		"vars/imp.yaml": "h: impfile\n",
		"lib/lib.yaml": `vars: {e: lib, f: lib}
vars_files: [lib-vars.yaml]
steps:
  - name: inner
    hosts: web01
    task: file
    with: {path: "` + out + `/inner", content: "d={{ .d }} e={{ .e }} f={{ .f }} g={{ .g }} h={{ .h }}"}
`,
		"lib/lib-vars.yaml": "f: libfile\ng: libfile\n",
	})
	code, stdout, errOut := f.apply("--diff", filepath.Join(dir, "site.yaml"))
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, errOut)
	}
	for name, want := range map[string]string{
		"outer":  "a=site b=one c=two",
		"inner":  "d=import e=site f=libfile g=libfile h=impfile",
		"secret": "tok-from-a-file",
	} {
		if got, _ := os.ReadFile(filepath.Join(out, name)); string(got) != want {
			t.Errorf("%s: got %q, want %q", name, got, want)
		}
	}
	if strings.Contains(stdout, "tok-from-a-file") || !strings.Contains(stdout, "(content hidden: it holds a secret)") {
		t.Errorf("a !secret from a vars file is shown:\n%s", stdout)
	}
}

func TestVarsFilesRefused(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"a file that is not there", map[string]string{"site.yaml": "vars_files: [vars/nope.yaml]\nsteps: [{hosts: all, task: command, with: {cmd: \"true\"}}]\n"},
			`site.yaml:1:14: vars_files: DIR/vars/nope.yaml: no such file (vars_files are relative to the runbook's directory)`},
		{"a mistake in a file", map[string]string{"site.yaml": "vars_files: [v.yaml]\nsteps: [{hosts: all, task: command, with: {cmd: \"true\"}}]\n", "v.yaml": "a: 1\n2b: x\n"},
			`v.yaml:2:1: variable name "2b"`},
		{"a file of one value", map[string]string{"site.yaml": "vars_files: [v.yaml]\nsteps: [{hosts: all, task: command, with: {cmd: \"true\"}}]\n", "v.yaml": "just-a-token\n"},
			`v.yaml:1:1: vars: want a mapping of names to values`},
		{"a template in a path", map[string]string{"site.yaml": "vars_files: [\"vars/{{ .env }}.yaml\"]\nsteps: [{hosts: all, task: command, with: {cmd: \"true\"}}]\n"},
			`site.yaml:1:14: vars_files: "vars/{{ .env }}.yaml": a path cannot be a template`},
		{"on a task step", map[string]string{"site.yaml": "steps: [{hosts: all, task: command, with: {cmd: \"true\"}, vars_files: [v.yaml]}]\n", "v.yaml": "a: 1\n"},
			`site.yaml:1:70: vars_files belong to the runbook or to an import, not to a task step`},
		{"a secret in a refused file", map[string]string{"site.yaml": "vars_files: [v.yaml]\nsteps: [{hosts: all, task: command, with: {cmd: \"true\"}}]\n", "v.yaml": "tok: !secret \"{{ s3cr3t-value\"\n"},
			`v.yaml:1:6: variable "tok"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files(t, dir, tt.files)
			code, out, errOut := runCLI("validate", filepath.Join(dir, "site.yaml"))
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if code != cli.ExitError || !strings.Contains(errOut, want) || strings.Contains(errOut, "s3cr3t") {
				t.Errorf("exit %d\n%s%s\nwant %s", code, out, errOut, want)
			}
		})
	}
}
