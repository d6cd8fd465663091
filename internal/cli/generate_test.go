package cli_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/cli"
)

// A secret made once: a runbook writes a generated gossip key into a file
// on three hosts. Check mode says it would be made and writes nothing;
// the run makes one key for all hosts and adds only its lines to the
// secrets file; later runs change nothing; no output shows the key.
func TestGenerateOnceSecret(t *testing.T) {
	_, pub := ageHome(t)
	f := newFleet(t, "")
	dir, out := t.TempDir(), t.TempDir()
	secretsFile := filepath.Join(dir, "secrets.yaml")
	encryptFile(t, secretsFile, "# the fleet's secrets\nother: 0ther-S3cret-Value\n", pub)
	before := read(t, secretsFile)
	files(t, dir, map[string]string{"site.yaml": `secrets_file: secrets.yaml
vars:
  gossip: '{{ secret "consul/gossip_key" "base64:32" }}'
steps:
  - name: gossip key
    hosts: all
    task: file
    with: {path: "` + out + `/{{ .host.name }}.json", content: "{\"encrypt\": \"{{ .gossip }}\"}\n", mode: "0600"}
`})
	site := filepath.Join(dir, "site.yaml")
	var all strings.Builder

	// Check mode: would change, nothing made or written.
	code, stdout, errOut := f.apply("--check", "--diff", site)
	all.WriteString(stdout + errOut)
	t.Logf("check:\n%s", stdout)
	if code != cli.ExitDrift || read(t, secretsFile) != before || !strings.Contains(stdout, "secret consul/gossip_key: not made yet") {
		t.Fatalf("check: exit %d\n%s%s", code, stdout, errOut)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("check mode wrote %v", entries)
	}

	code, stdout, errOut = f.apply("--diff", site)
	all.WriteString(stdout + errOut)
	if code != cli.ExitOK {
		t.Fatalf("apply: exit %d\n%s%s", code, stdout, errOut)
	}
	t.Logf("apply:\n%s", stdout)
	key := ""
	for _, h := range []string{"web01", "web02", "db01"} {
		got := read(t, filepath.Join(out, h+".json"))
		m := regexp.MustCompile(`^\{"encrypt": "([A-Za-z0-9+/]{43}=)"\}\n$`).FindStringSubmatch(got)
		if m == nil || key != "" && m[1] != key {
			t.Fatalf("%s: %q (the others: %q)", h, got, key)
		}
		key = m[1]
	}
	after := read(t, secretsFile)
	if !strings.HasPrefix(after, before) || !strings.HasPrefix(after[len(before):], "consul:\n  gossip_key: !encrypted |\n") || strings.Contains(after, key) {
		t.Errorf("the secrets file:\n%s\nwas\n%s", after, before)
	}
	_, plain, _ := secrets("", "decrypt", secretsFile)
	if !strings.Contains(plain, "consul: !secret\n  gossip_key: "+key+"\n") {
		t.Errorf("decrypted:\n%s", plain)
	}

	// Again, and in check mode: nothing changes, the file keeps its bytes.
	for _, args := range [][]string{{"--diff"}, {"--check", "--diff"}, {"--check", "--output", "json"}, {"--output", "json", "-v"}} {
		code, stdout, errOut := f.apply(append(args, site)...)
		all.WriteString(stdout + errOut)
		if code != cli.ExitOK || read(t, secretsFile) != after {
			t.Errorf("%v: exit %d\n%s%s", args, code, stdout, errOut)
		}
	}
	if found := leaks(all.String(), key); len(found) > 0 {
		t.Errorf("output shows %q:\n%s", found, all.String())
	}
}

// Without a secrets_file, the function says what to add.
func TestGenerateWithoutSecretsFile(t *testing.T) {
	ageHome(t)
	f := newFleet(t, "")
	rb := write(t, "site.yaml", "steps:\n  - {name: s, hosts: web01, task: file, with: {path: /tmp/x-never, content: '{{ secret \"tok\" \"hex:8\" }}'}}\n")
	code, stdout, errOut := f.apply(rb)
	if code != cli.ExitError || !strings.Contains(stdout+errOut, `secret "tok": the runbook names no secrets_file to keep it in: add `+"`secrets_file: secrets.yaml`") {
		t.Errorf("exit %d\n%s%s", code, stdout, errOut)
	}
}
