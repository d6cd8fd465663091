package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/sshtest"
)

// The sources of a variable, lowest precedence first, as the table in
// docs/runbook-format.md lists them.
var sources = []string{
	"lib_vars", "lib_vars_files", "site_vars", "site_vars_files", "import_vars", "import_vars_files", "block_vars",
	"inv_all", "inv_parent", "inv_child", "gv_all", "gv_parent", "gv_child", "inv_host", "hv_host",
	"extra", "registered", "loop",
}

// defs is a YAML mapping that defines x<k> = source for every source k at
// or above i: the value a step reads for x<k> names the source that wins.
func defs(i int) string {
	var b strings.Builder
	for k := i; k < len(sources); k++ {
		fmt.Fprintf(&b, "x%02d: %s\n", k, sources[i])
	}
	return b.String()
}

// flow is defs(i) as a YAML flow mapping.
func flow(i int) string {
	return "{" + strings.ReplaceAll(strings.TrimSpace(defs(i)), "\n", ", ") + "}"
}

func indentBy(s, by string) string {
	return by + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n"+by) + "\n"
}

// TestVarsPrecedence defines a variable in every source runbook has and
// renders them on a host: each must come from the source that the table
// in the docs says wins.
func TestVarsPrecedence(t *testing.T) {
	s := sshtest.Start(t)
	dir, out := t.TempDir(), t.TempDir()
	idx := map[string]int{}
	for i, s := range sources {
		idx[s] = i
	}
	var reads strings.Builder
	for k := range sources {
		if sources[k] == "registered" {
			fmt.Fprintf(&reads, "x%02d={{ .x%02d.stdout }}\n", k, k)
			continue
		}
		fmt.Fprintf(&reads, "x%02d={{ .x%02d }}\n", k, k)
	}
	reg := idx["registered"]
	files(t, dir, map[string]string{
		"hosts.yaml": fmt.Sprintf(`defaults: {address: 127.0.0.1, port: %d, user: %s, key: %s}
vars: %s
hosts:
  web01: {vars: %s}
groups:
  prod: {children: [web], vars: %s}
  web: {hosts: [web01], vars: %s}
`, s.Port, s.User, s.KeyFile, flow(idx["inv_all"]), flow(idx["inv_host"]), flow(idx["inv_parent"]), flow(idx["inv_child"])),
		"group_vars/all.yaml":      defs(idx["gv_all"]),
		"group_vars/prod.yml":      defs(idx["gv_parent"]),
		"group_vars/web/10-a.yaml": fmt.Sprintf("x%02d: the-first-file\n", idx["gv_child"]), // the later file wins
		"group_vars/web/20-b.yaml": defs(idx["gv_child"]),
		"host_vars/web01.yaml":     defs(idx["hv_host"]),
		"extra.yaml":               defs(idx["extra"]),
		"rb/vars/site.yaml":        defs(idx["site_vars_files"]),
		"rb/vars/import.yaml":      defs(idx["import_vars_files"]),
		"rb/lib/lib-vars.yaml":     defs(idx["lib_vars_files"]),
		"rb/site.yaml": fmt.Sprintf(`vars:
%svars_files: [vars/site.yaml]
steps:
  - import: lib/lib.yaml
    vars: %s
    vars_files: [vars/import.yaml]
`, indentBy(defs(idx["site_vars"]), "  "), flow(idx["import_vars"])),
		"rb/lib/lib.yaml": fmt.Sprintf(`vars:
%svars_files: [lib-vars.yaml]
steps:
  - {name: register, hosts: web, task: command, with: {cmd: echo registered, read_only: true}, register: x%02d}
  - {name: register too, hosts: web, task: command, with: {cmd: echo registered, read_only: true}, register: x%02[3]d}
  - name: a block
    hosts: web
    vars: %s
    block:
      - name: show
        task: file
        loop: [loop]
        loop_var: x%02[3]d
        with:
          path: %[5]s/vars
          content: |
%[6]s`, indentBy(defs(idx["lib_vars"]), "  "), reg, idx["loop"], flow(idx["block_vars"]), out, indentBy(reads.String(), "            ")),
	})
	code, stdout, errOut := runCLI("apply", "-i", filepath.Join(dir, "hosts.yaml"), "--known-hosts", s.KnownHosts,
		"-e", "@"+filepath.Join(dir, "extra.yaml"), filepath.Join(dir, "rb/site.yaml"))
	if code != cli.ExitOK {
		t.Fatalf("exit %d\n%s%s", code, stdout, errOut)
	}
	got, err := os.ReadFile(filepath.Join(out, "vars"))
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for k, s := range sources {
		fmt.Fprintf(&want, "x%02d=%s\n", k, s)
	}
	if string(got) != want.String() {
		t.Errorf("rendered on the host:\n%s\nwant:\n%s", got, want.String())
	}
}

// group_vars/ and host_vars/ beside the inventory: a file or a directory
// of files per name; names the inventory lacks are warned about, not
// refused; hidden files, backups and other files are left alone.
func TestGroupAndHostVarsDirs(t *testing.T) {
	f := newFleet(t, "")
	files(t, f.dir, map[string]string{
		"group_vars/web.yaml":          "port: 8080\ntoken: !secret gv-secret-value\nwho: \"{{ .host.name }}-web\"\n",
		"group_vars/webb.yml":          "port: 1\n",
		"host_vars/web02/a.yaml":       "port: 8081\nextra: a\n",
		"host_vars/web02/b/c.json":     `{"extra": "c"}`,
		"host_vars/web02/.hidden.yaml": "port: 1\n",
		"host_vars/web02/d.yaml~":      "port: 1\n",
		"host_vars/web02/notes.txt":    "not yaml: [\n",
		"host_vars/nosuch.yaml":        "port: 1\n",
		"host_vars/web01.yml":          "extra: one\n",
	})
	code, out, errOut := runCLI("inventory", "-i", f.inv)
	if code != cli.ExitOK {
		t.Fatalf("inventory: exit %d %s", code, errOut)
	}
	for _, want := range []string{"      extra: one\n      port: 8080\n      token: '********'\n      who: web01-web\n", "      extra: c\n      port: 8081\n      token: '********'\n      who: web02-web\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("runbook inventory does not show %q:\n%s", want, out)
		}
	}
	for _, want := range []string{
		`runbook: warning: ` + f.dir + `/group_vars/webb.yml: no group "webb" in the inventory: these variables are not used; did you mean "web"?`,
		`runbook: warning: ` + f.dir + `/host_vars/nosuch.yaml: no host "nosuch" in the inventory: these variables are not used`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("want %q on stderr:\n%s", want, errOut)
		}
	}
	if strings.Contains(out+errOut, "gv-secret-value") {
		t.Errorf("a !secret from group_vars/ is shown:\n%s%s", out, errOut)
	}

	dir := t.TempDir()
	rb := write(t, "site.yaml", fmt.Sprintf(`steps:
  - {name: show, hosts: web, task: file, with: {path: "%s/{{ .host.name }}", content: "{{ .port }} {{ .who }} {{ .token }} {{ .extra }}"}}
`, dir))
	code, out, errOut = f.apply("--diff", rb)
	if code != cli.ExitOK {
		t.Fatalf("apply: exit %d\n%s%s", code, out, errOut)
	}
	for host, want := range map[string]string{"web01": "8080 web01-web gv-secret-value one", "web02": "8081 web02-web gv-secret-value c"} {
		if got, _ := os.ReadFile(filepath.Join(dir, host)); string(got) != want {
			t.Errorf("%s: got %q, want %q", host, got, want)
		}
	}
	if !strings.Contains(out, "WARNING "+f.dir+`/group_vars/webb.yml: no group "webb"`) || strings.Contains(out, "gv-secret-value") {
		t.Errorf("apply: want the warning, and no secret:\n%s", out)
	}

	// Mistakes are errors before any host is contacted.
	files(t, f.dir, map[string]string{"group_vars/db.yaml": "a: 1\n2b: x\n"})
	code, out, errOut = f.apply(rb)
	if want := f.dir + `/group_vars/db.yaml:2:1: variable name "2b"`; code != cli.ExitError || out != "" || !strings.Contains(errOut, want) {
		t.Errorf("bad group_vars file: exit %d, want %q\n%s%s", code, want, out, errOut)
	}
	os.Remove(filepath.Join(f.dir, "group_vars/db.yaml"))
	files(t, f.dir, map[string]string{"group_vars/web/more.yaml": "a: 1\n"})
	code, out, errOut = f.apply(rb)
	if want := f.dir + `/group_vars/web and ` + f.dir + `/group_vars/web.yaml both hold the variables of "web": keep one`; code != cli.ExitError || !strings.Contains(errOut, want) {
		t.Errorf("web.yaml and web/: exit %d, want %q\n%s%s", code, want, out, errOut)
	}
}
