package cli_test

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
)

// The secrets of the leak tests: one from `-e @file`, one a runbook
// variable. Each case and encoding of them looks different.
const (
	filePw  = "Hunter2-from-File"
	rbToken = "rb-T0ken-9f3c"
)

// derivedForms are the forms of a secret that a host makes of it without
// any template's help (tr, base64, od): none may be shown.
// TestNothingDerivedFromASecretIsShown adds what no list of forms can
// foresee.
func derivedForms(secrets ...string) []string {
	var out []string
	for _, s := range secrets {
		b := []byte(s)
		out = append(out, s, strings.ToUpper(s), strings.ToLower(s),
			base64.StdEncoding.EncodeToString(b), base64.RawStdEncoding.EncodeToString(b),
			base64.URLEncoding.EncodeToString(b), hex.EncodeToString(b), strings.ToUpper(hex.EncodeToString(b)))
	}
	return out
}

// leakRunbook uses both secrets in a template file, a file's content
// (shown with --diff), commands that succeed (registered, then printed by
// a later step) and fail, a probe whose failure quotes its output, and a
// condition that fails to render. The host does the encoding (and
// reverses them, which no list of forms foresees); templates take slices
// of them, which no function of theirs sees.
func leakRunbook(t *testing.T, dir string) string {
	t.Helper()
	rbDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(rbDir, "key.tmpl"), []byte("token={{ .token }}\npw={{ .pw }}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rb := filepath.Join(rbDir, "site.yaml")
	if err := os.WriteFile(rb, []byte(fmt.Sprintf(`
vars:
  token: !secret %[2]s
steps:
  - name: config
    hosts: all
    task: file
    with:
      path: %[1]s/app.conf
      mode: "0600"
      content: |
        pw={{ .pw }}
        token={{ .token }}
  - name: key
    hosts: all
    task: template
    with: {src: key.tmpl, dest: %[1]s/key, mode: "0600"}
  - name: encode
    hosts: all
    task: command
    register: enc
    with:
      read_only: true
      cmd: |
        printf '%%s' {{ quote .pw }} | base64
        printf '%%s' {{ quote .token }} | od -An -tx1 | tr -d ' \n'; echo
        echo {{ quote .pw }} | tr a-z A-Z
        printf '%%s\n' {{ quote .pw }} | rev
  - name: show
    hosts: all
    task: command
    ignore_errors: true
    with: {cmd: "echo {{ quote .enc.stdout }}; echo {{ quote .enc.stdout }} >&2; exit 3"}
  - name: leak
    hosts: all
    task: command
    ignore_errors: true
    retries: 1
    with:
      cmd: |
        printf '%%s' {{ quote .token }} | base64 >&2
        printf '%%s' {{ quote .pw }} | od -An -tx1 | tr -d ' \n' >&2
        echo {{ quote .token }} | tr a-z A-Z >&2
        printf '%%s\n' {{ quote .token }} | rev >&2
        printf '%%s\n' {{ slice .pw 0 9 | quote }}
        exit 1
  - name: probe
    hosts: all
    task: assert
    ignore_errors: true
    with: {cmd: "printf '%%s' {{ quote .pw }} | base64; echo {{ quote .token }} | tr a-z A-Z; exit 2"}
  - name: cond
    hosts: all
    ignore_errors: true
    when: "{{ slice .token 0 8 }}"
    task: command
    with: {cmd: "true"}
`, dir, rbToken)), 0o644); err != nil {
		t.Fatal(err)
	}
	return rb
}

// TestNothingDerivedFromASecretIsShown runs a runbook that uses secrets
// (from -e @file and from its own vars) every way a host can derive
// something from them, against a real sshd, and greps every output mode
// for the secrets, their upper and lower case, base64 and hex.
func TestNothingDerivedFromASecretIsShown(t *testing.T) {
	s := sshtest.Start(t)
	dir := t.TempDir()
	inv := s.Inventory(t, "web")
	extra := write(t, "secrets.yaml", "pw: !secret "+filePw+"\n")
	rb := leakRunbook(t, dir)
	base := []string{"apply", "-i", inv, "--known-hosts", s.KnownHosts, "-e", "@" + extra}
	runs := []struct {
		name  string
		args  []string
		apply bool // a run, which has something to mask
	}{
		{"list-tasks", []string{"--list-tasks"}, false},
		{"list-hosts json", []string{"--list-hosts", "--list-tasks", "--output", "json"}, false},
		{"check text --diff", []string{"--check", "--diff"}, true},
		{"check json --diff -v", []string{"--check", "--diff", "--output", "json", "-v"}, true},
		{"apply json --diff", []string{"--diff", "--output", "json"}, true},
		{"apply text --diff -v", []string{"--diff", "-v"}, true}, // last: the files checked below are its
	}
	for _, r := range runs {
		if err := os.WriteFile(filepath.Join(dir, "app.conf"), []byte("pw=old-value\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, out, errOut := runCLI(append(append(append([]string{}, base...), r.args...), rb)...)
		unforeseen := []string{reverse(filePw), reverse(rbToken), filePw[:9], rbToken[:8]}
		for _, f := range append(derivedForms(filePw, rbToken), unforeseen...) {
			for stream, text := range map[string]string{"stdout": out, "stderr": errOut} {
				if i := strings.Index(text, f); i >= 0 {
					lo, hi := max(0, i-80), min(len(text), i+len(f)+20)
					t.Errorf("%s: %s shows %q: ...%s...", r.name, stream, f, text[lo:hi])
				}
			}
		}
		if !strings.Contains(out, "encode") || !strings.Contains(out, "probe") {
			t.Errorf("%s: the steps are not reported:\n%s", r.name, out)
		}
		if r.apply && !strings.Contains(out, "********") {
			t.Errorf("%s: nothing masked: is the test still using the secrets?\n%s", r.name, out)
		}
	}
	// The host did what the runbook said with the real values.
	if got, _ := os.ReadFile(filepath.Join(dir, "key")); string(got) != "token="+rbToken+"\npw="+filePw+"\n" {
		t.Errorf("key = %q", got)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "app.conf")); !strings.Contains(string(got), "pw="+filePw+"\n") {
		t.Errorf("app.conf = %q", got)
	}
}

func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}

// TestAPatternMadeFromASecretIsHidden: what is checked before a run (and
// all --list-hosts does) renders host patterns, which may read a secret;
// their errors quote what they rendered. (A term cut out of a longer
// pattern, "web,{{ slice .pw 0 9 }}", is shown: see docs/secrets.md.)
func TestAPatternMadeFromASecretIsHidden(t *testing.T) {
	inv := write(t, "hosts.yaml", "defaults: {connection: local}\nhosts:\n  web:\n")
	extra := write(t, "secrets.yaml", "pw: !secret "+filePw+"\n")
	rb := write(t, "site.yaml", `
vars:
  token: !secret `+rbToken+`
steps:
  - {name: a, hosts: ["{{ .token | upper }}", "{{ slice .pw 0 9 }}"], task: command, with: {cmd: "true"}}
`)
	for _, args := range [][]string{
		{"apply", "-i", inv, "-e", "@" + extra, rb},
		{"apply", "--list-hosts", "-i", inv, "-e", "@" + extra, rb},
		{"apply", "--list-tasks", "--output", "json", "-i", inv, "-e", "@" + extra, rb},
		{"validate", "-i", inv, "-e", "@" + extra, rb},
	} {
		code, out, errOut := runCLI(args...)
		if code != 1 || !strings.Contains(errOut, "no host or group") {
			t.Errorf("%s: exit %d, want the pattern refused:\n%s%s", args[:2], code, out, errOut)
		}
		for _, f := range append(derivedForms(filePw, rbToken), filePw[:9]) {
			if strings.Contains(out+errOut, f) {
				t.Errorf("%s: shows %q:\n%s%s", args[:2], f, out, errOut)
			}
		}
	}
}
