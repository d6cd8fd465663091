package cli_test

import (
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/cli"
)

// ageHome gives the test a home of its own with an age key made by
// `runbook secrets init`'s code, named by RUNBOOK_AGE_KEY_FILE, and
// returns the key's file and public key.
func ageHome(t *testing.T) (string, string) {
	t.Helper()
	h := t.TempDir()
	t.Setenv("HOME", h)
	t.Setenv("XDG_CONFIG_HOME", "")
	key := filepath.Join(t.TempDir(), "age.key")
	pub, err := agevars.Init(key)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(agevars.EnvKeyFile, key)
	return key, pub
}

// encryptFile writes content to path with its values encrypted to pub.
func encryptFile(t *testing.T, path, content, pub string) {
	t.Helper()
	f, err := agevars.Parse(path, []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	r, err := agevars.ParseRecipient(pub)
	if err != nil {
		t.Fatal(err)
	}
	out, _, err := f.Encrypt([]*agevars.Recipient{r})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// leaks lists the forms of secrets found in out: each as it is, in upper
// case, base64 and hex.
func leaks(out string, secrets ...string) []string {
	var found []string
	for _, s := range secrets {
		for _, form := range []string{s, strings.ToUpper(s), base64.StdEncoding.EncodeToString([]byte(s)), hex.EncodeToString([]byte(s))} {
			if strings.Contains(out, form) {
				found = append(found, form)
			}
		}
	}
	return found
}

// Encrypted values load wherever a vars file does (vars_files, -e @file,
// group_vars/), reach the host decrypted, and appear in no output mode.
func TestEncryptedVarsFilesOnARun(t *testing.T) {
	_, pub := ageHome(t)
	const vf, ex, gv, vf2 = "vf-S3cret-1111", "ex-S3cret-2222", "gv-S3cret-3333", "vf-S3cret-9999"
	f := newFleet(t, "")
	dir, out := t.TempDir(), t.TempDir()
	encryptFile(t, filepath.Join(dir, "vars", "secrets.yaml"), "vf_token: "+vf+"\nport: 8500\n", pub)
	encryptFile(t, filepath.Join(dir, "extra.yaml"), "ex_token: "+ex+"\n", pub)
	encryptFile(t, filepath.Join(f.dir, "group_vars", "web.yaml"), "gv_token: "+gv+"\n", pub)
	files(t, dir, map[string]string{"site.yaml": `vars_files: [vars/secrets.yaml]
steps:
  - name: write
    hosts: web
    task: file
    with: {path: "` + out + `/{{ .host.name }}", content: "{{ .vf_token }} {{ .ex_token }} {{ .gv_token }} {{ .port }}\n"}
`})
	site := filepath.Join(dir, "site.yaml")
	extra := "@" + filepath.Join(dir, "extra.yaml")

	var all strings.Builder
	code, stdout, errOut := f.apply("--diff", "-e", extra, site)
	all.WriteString(stdout + errOut)
	if code != cli.ExitOK {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, errOut)
	}
	for _, h := range []string{"web01", "web02"} {
		if got, _ := os.ReadFile(filepath.Join(out, h)); string(got) != vf+" "+ex+" "+gv+" 8500\n" {
			t.Errorf("%s: got %q", h, got)
		}
	}
	if !strings.Contains(stdout, "(content hidden: it holds a secret)") {
		t.Errorf("the diff is not hidden:\n%s", stdout)
	}

	// A value changed in the file: check mode, text and JSON, with diffs.
	sf, err := agevars.Read(filepath.Join(dir, "vars", "secrets.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	changed, err := sf.Set(nil, []string{"vf_token"}, vf2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := agevars.WriteFile(sf.Path, changed); err != nil {
		t.Fatal(err)
	}
	for _, mode := range [][]string{{"--check", "--diff"}, {"--check", "--diff", "--output", "json"}, {"--check", "-v", "--output", "json"}} {
		code, stdout, errOut := f.apply(append(mode, "-e", extra, site)...)
		all.WriteString(stdout + errOut)
		if code != cli.ExitDrift {
			t.Errorf("%v: exit %d, want drift\n%s%s", mode, code, stdout, errOut)
		}
	}
	code, stdout, errOut = runCLI("inventory", "-i", f.inv)
	all.WriteString(stdout + errOut)
	if code != cli.ExitOK || !strings.Contains(stdout, "gv_token: '********'") {
		t.Errorf("inventory: exit %d\n%s%s", code, stdout, errOut)
	}
	if found := leaks(all.String(), vf, ex, gv, vf2); len(found) > 0 {
		t.Errorf("output shows %q:\n%s", found, all.String())
	}
}

// A file the user cannot open stops the run before any host is
// contacted, saying which value, where, and for whom it is.
func TestEncryptedVarsFileNotForYou(t *testing.T) {
	_, pub := ageHome(t)
	dir := t.TempDir()
	encryptFile(t, filepath.Join(dir, "secrets.yaml"), "tok: s3cr3t-value\n", pub)
	files(t, dir, map[string]string{"site.yaml": "vars_files: [secrets.yaml]\nsteps: [{hosts: all, task: command, with: {cmd: \"true\"}}]\n"})
	other := filepath.Join(t.TempDir(), "other.key")
	if _, err := agevars.Init(other); err != nil {
		t.Fatal(err)
	}
	t.Setenv(agevars.EnvKeyFile, other)
	code, out, errOut := runCLI("validate", filepath.Join(dir, "site.yaml"))
	want := filepath.Join(dir, "secrets.yaml") + ":4:6: tok: cannot decrypt: it is not encrypted for any of your keys (RUNBOOK_AGE_KEY_FILE=" + other + "); it is for " + pub
	if code != cli.ExitError || !strings.Contains(errOut, want) || strings.Contains(out+errOut, "s3cr3t") {
		t.Errorf("exit %d\n%s%s\nwant %s", code, out, errOut, want)
	}
	// -e @file says the same.
	code, _, errOut = runCLI("validate", "-e", "@"+filepath.Join(dir, "secrets.yaml"), filepath.Join(dir, "site.yaml"))
	if code != cli.ExitError || !strings.Contains(errOut, "tok: cannot decrypt") {
		t.Errorf("-e @file: exit %d\n%s", code, errOut)
	}
}

// !encrypted belongs in vars files: in a runbook it is refused, not used
// as the ciphertext's text.
func TestEncryptedValueOutsideAVarsFile(t *testing.T) {
	rb := write(t, "site.yaml", "vars: {tok: !encrypted abc}\nsteps: [{hosts: all, task: command, with: {cmd: \"true\"}}]\n")
	code, _, errOut := runCLI("validate", rb)
	if code != cli.ExitError || !strings.Contains(errOut, `site.yaml:1:13: unknown YAML tag "!encrypted": an !encrypted value belongs in a vars file (vars_files, -e @FILE, group_vars/, host_vars/)`) {
		t.Errorf("exit %d\n%s", code, errOut)
	}
}
