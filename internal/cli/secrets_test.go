package cli_test

import (
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/tmpl"
)

const (
	pw    = `it's <hunter2> & Sup3r"x` // every function of it looks different
	token = "inv-T0ken-Value"
	pem   = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACBd8Hh5a1l1Hk0kq5w7X0nQk5p5Kq0R5m0jO4bQ2Jm9RQAAAJi0Qm1ltEJt
-----END OPENSSH PRIVATE KEY-----
`
	credPass = "Zq9-mapping-pass"
	oldConf  = "OLD-rotated-S3cret" // the secret the host's file holds from before a rotation
	oldKey   = "OLD-key-material-123"
)

// forbidden lists the secrets and what templates can make of them: none
// may appear in any output.
func forbidden() []string {
	j, _ := json.Marshal(pw)
	creds, _ := json.Marshal(map[string]string{"user": "a", "pass": credPass})
	out := []string{
		pw, strings.ToUpper(pw), tmpl.ShellQuote(pw), string(j), template.JSEscapeString(pw),
		strconv.Quote(pw), strconv.Quote(strings.ToUpper(pw)),
		token, strings.ToUpper(token), strings.ToLower(token),
		pem, strconv.Quote(pem), credPass, string(creds), oldConf, oldKey,
	}
	for _, l := range strings.Split(pem, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	// A quoted form shows without its quotes too.
	for _, s := range out[:len(out):len(out)] {
		if uq := strings.Trim(s, `"'`); uq != s && len(uq) >= 4 {
			out = append(out, uq)
		}
	}
	return out
}

func indent(s, by string) string {
	return by + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+by)
}

// TestSecretsAreNeverPrinted runs a runbook that uses secrets every way a
// template can against a real sshd host, and greps every output mode for
// the secrets and their derived forms.
func TestSecretsAreNeverPrinted(t *testing.T) {
	s := sshtest.Start(t)
	dir := t.TempDir()
	inv := write(t, "hosts.yaml", fmt.Sprintf(`
defaults: {address: %s, port: %d, user: %s, key: %s}
vars:
  region: eu-a
  token: !secret %s
  token_upper: "{{ .token | upper }}"
  pem: !secret |
%s
  creds: !secret {user: a, pass: %s}
hosts:
  web:
`, s.Addr, s.Port, s.User, s.KeyFile, token, indent(pem, "    "), credPass))
	extra := write(t, "vars.yaml", "pw: !secret "+strconv.Quote(pw)+"\n")
	rbDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(rbDir, "key.tmpl"), []byte("{{ .pem }}\nsecret={{ .pw | js }}\nlower={{ lower .token }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rb := filepath.Join(rbDir, "site.yaml")
	if err := os.WriteFile(rb, []byte(fmt.Sprintf(`
steps:
  - name: config
    hosts: all
    task: file
    with:
      path: %[1]s/app.conf
      content: |
        pw={{ .pw | upper }}
        q={{ quote .pw }}
        j={{ toJSON .pw }}
        c={{ toJSON .creds }}
        t={{ .token_upper }}
        {{ .pem }}
  - name: key
    hosts: all
    task: template
    with: {src: key.tmpl, dest: %[1]s/key}
  - name: leak
    hosts: all
    task: command
    ignore_errors: true
    with:
      cmd: |
        echo {{ .pw | upper | quote }}; echo {{ toJSON .creds | quote }}
        echo {{ .token_upper }} >&2; cat %[1]s/key >&2; exit 1
  - name: cond
    hosts: all
    ignore_errors: true
    when: "{{ .pw | upper }}"
    task: command
    with: {cmd: "true"}
`, dir)), 0o644); err != nil {
		t.Fatal(err)
	}
	rotate := func() {
		t.Helper()
		for name, old := range map[string]string{"app.conf": "pw=" + oldConf + "\n", "key": oldKey + "\n"} {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(old), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	apply := []string{"apply", "-i", inv, "--known-hosts", s.KnownHosts, "-e", "@" + extra, "--diff"}
	runs := map[string][]string{
		"check":      append(append([]string{}, apply...), "--check", rb),
		"check json": append(append([]string{}, apply...), "--check", "--output", "json", rb),
		"json":       append(append([]string{}, apply...), "--output", "json", rb),
		"apply -v":   append(append([]string{}, apply...), "-v", rb),
	}
	for _, name := range []string{"check", "check json", "json", "apply -v"} {
		rotate()
		_, out, errOut := runCLI(runs[name]...)
		checkNoSecret(t, name, out+errOut)
		if !strings.Contains(out, "app.conf: sha256") {
			t.Errorf("%s: ordinary words are masked:\n%s", name, out)
		}
		if !strings.Contains(out, "********") {
			t.Errorf("%s: nothing masked: is the test still using the secrets?\n%s", name, out)
		}
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "app.conf")); !strings.Contains(string(got), "pw="+strings.ToUpper(pw)+"\n") || !strings.Contains(string(got), pem) {
		t.Errorf("the runbook did not do its job: app.conf =\n%s", got)
	}
	for _, format := range []string{"text", "json"} {
		code, out, errOut := runCLI("inventory", "-i", inv, "--output", format)
		if code != 0 {
			t.Fatalf("inventory: %d %s", code, errOut)
		}
		checkNoSecret(t, "inventory "+format, out+errOut)
		if !strings.Contains(out, "eu-a") {
			t.Errorf("inventory %s: ordinary values are masked:\n%s", format, out)
		}
	}
}

func checkNoSecret(t *testing.T, what, out string) {
	t.Helper()
	for _, s := range forbidden() {
		if i := strings.Index(out, s); i >= 0 {
			lo, hi := max(0, i-60), min(len(out), i+len(s)+20)
			t.Errorf("%s: shows %q: ...%s...", what, s, out[lo:hi])
		}
	}
}
