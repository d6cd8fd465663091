package cli_test

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/cli"
)

// A rotation as an operator does it: apply makes the gossip key, rotate
// retires it (still encrypted, beside it), the next apply makes a new one
// and writes it to every host; a second rotate retires that one. No
// output shows a key.
func TestSecretsRotate(t *testing.T) {
	_, pub := ageHome(t)
	f := newFleet(t, "")
	dir, out := t.TempDir(), t.TempDir()
	secretsFile := filepath.Join(dir, "secrets.yaml")
	encryptFile(t, secretsFile, "# the fleet's secrets\nother: 0ther-S3cret-Value\n", pub)
	files(t, dir, map[string]string{"site.yaml": `secrets_file: secrets.yaml
vars:
  gossip: '{{ secret "consul/gossip_key" "base64:32" }}'
steps:
  - name: gossip key
    hosts: all
    task: file
    with: {path: "` + out + `/{{ .host.name }}", content: "{{ .gossip }}", mode: "0600"}
`})
	site := filepath.Join(dir, "site.yaml")
	var all strings.Builder
	apply := func() string {
		t.Helper()
		code, stdout, errOut := f.apply(site)
		all.WriteString(stdout + errOut)
		if code != cli.ExitOK {
			t.Fatalf("apply: exit %d\n%s%s", code, stdout, errOut)
		}
		key := ""
		for _, h := range []string{"web01", "web02", "db01"} {
			got := read(t, filepath.Join(out, h))
			if key != "" && got != key || !regexp.MustCompile(`^[A-Za-z0-9+/]{43}=$`).MatchString(got) {
				t.Fatalf("%s: %q (the others: %q)", h, got, key)
			}
			key = got
		}
		return key
	}
	rotate := func(args ...string) (int, string, string) {
		code, stdout, errOut := secrets("", append([]string{"rotate"}, args...)...)
		all.WriteString(stdout + errOut)
		return code, stdout, errOut
	}
	plain := func() string {
		_, p, _ := secrets("", "decrypt", secretsFile)
		return p
	}

	key1 := apply()
	before := read(t, secretsFile)
	code, stdout, errOut := rotate(secretsFile, "consul/gossip_key")
	if code != cli.ExitOK || stdout != "" || errOut != "consul/gossip_key: retired to consul/gossip_key_previous; the next apply makes a new one\n" {
		t.Fatalf("rotate: exit %d\n%s%s", code, stdout, errOut)
	}
	after := read(t, secretsFile)
	// Renamed, and nothing else: the ciphertext moves as it was.
	if strings.Contains(after, key1) || after != strings.Replace(before, "  gossip_key:", "  gossip_key_previous:", 1) {
		t.Errorf("after rotate:\n%s\nwas\n%s", after, before)
	}
	if p := plain(); !strings.Contains(p, "consul: !secret\n  gossip_key_previous: "+key1+"\n") || strings.Contains(p, "gossip_key:") {
		t.Errorf("decrypted after rotate:\n%s", p)
	}

	key2 := apply()
	if key2 == key1 {
		t.Fatal("the apply after rotate kept the old key")
	}
	if p := plain(); !strings.Contains(p, "gossip_key_previous: "+key1+"\n") || !strings.Contains(p, "gossip_key: "+key2+"\n") || !strings.Contains(p, "other: !secret 0ther-S3cret-Value\n") {
		t.Errorf("decrypted after the next apply:\n%s", p)
	}
	// A second rotation overwrites _previous.
	if code, _, errOut := rotate(secretsFile, "consul/gossip_key"); code != cli.ExitOK {
		t.Fatal(errOut)
	}
	if p := plain(); !strings.Contains(p, "gossip_key_previous: "+key2+"\n") || strings.Contains(p, key1) || strings.Count(p, "gossip_key") != 1 {
		t.Errorf("decrypted after a second rotate:\n%s", p)
	}
	if found := leaks(all.String(), key1, key2); len(found) > 0 {
		t.Errorf("output shows %q:\n%s", found, all.String())
	}
}

func TestSecretsRotateErrors(t *testing.T) {
	_, pub := ageHome(t)
	p := filepath.Join(t.TempDir(), "s.yaml")
	encryptFile(t, p, "consul:\n  gossip_key: S3cret-Gossip-Key\ntoken: S3cret-Token\n", pub)
	before := read(t, p)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{p, "consul/acl_token"}, `rotate "consul/acl_token": ` + p + " holds no value consul/acl_token (consul holds gossip_key): `runbook secrets show " + p + "` lists its names"},
		{[]string{p, "token", "nope"}, `rotate "nope": ` + p + " holds no value nope"},
		{[]string{p, "consul/gossip_key_previous"}, `a retired value, kept to be put back by hand: rotate consul/gossip_key`},
		{[]string{p}, "secrets rotate: want FILE NAME..."},
		{[]string{filepath.Join(t.TempDir(), "missing.yaml"), "token"}, "missing.yaml: no such file"},
	} {
		code, stdout, errOut := secrets("", append([]string{"rotate"}, tc.args...)...)
		if code != cli.ExitError || stdout != "" || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "S3cret") {
			t.Errorf("%v: exit %d, want %q\n%s%s", tc.args, code, tc.want, stdout, errOut)
		}
	}
	if read(t, p) != before {
		t.Errorf("a refused rotate changed the file:\n%s", read(t, p))
	}
	code, stdout, _ := secrets("", "--help")
	if code != cli.ExitOK || !regexp.MustCompile(`(?m)^  rotate +retire each NAME's value to NAME_previous`).MatchString(stdout) {
		t.Errorf("secrets --help: exit %d\n%s", code, stdout)
	}
}

// rotate and a run making a secret take turns on the file's lock: each
// finds what the other wrote.
func TestSecretsRotateWhileARunMakesSecrets(t *testing.T) {
	ageHome(t)
	p := filepath.Join(t.TempDir(), "s.yaml")
	for i := range 8 {
		name := fmt.Sprintf("tok%d", i)
		if _, _, err := agevars.NewStore(p, false).Secret(name, "hex:16"); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var made string
		var code int
		var errOut string
		var err error
		wg.Add(2)
		go func() {
			defer wg.Done()
			code, _, errOut = secrets("", "rotate", p, name)
		}()
		go func() {
			defer wg.Done()
			made, _, err = agevars.NewStore(p, false).Secret("made/"+name, "hex:16")
		}()
		wg.Wait()
		if code != cli.ExitOK || err != nil {
			t.Fatalf("round %d: rotate exit %d %s; secret: %v", i, code, errOut, err)
		}
		s := agevars.NewStore(p, true)
		if v, pending, err := s.Secret("made/"+name, "hex:16"); err != nil || pending || v != made {
			t.Fatalf("round %d: the run's secret was lost (%v %v)", i, pending, err)
		}
		if _, pending, err := s.Secret(name, "hex:16"); err != nil || !pending {
			t.Fatalf("round %d: %s was not retired (%v %v)", i, name, pending, err)
		}
	}
}

// A runbook whose `rotate:` names secrets rotates them on each apply: it
// retires them when the run starts (under the run's lock), then its steps
// make and roll out new ones and can revoke the old (retired). Its check
// shows that rollout as drift and changes nothing.
func TestRunbookRotates(t *testing.T) {
	ageHome(t)
	f := newFleet(t, "")
	dir, out := t.TempDir(), t.TempDir()
	secretsFile := filepath.Join(dir, "secrets.yaml")
	files(t, dir, map[string]string{"rotate.yaml": `secrets_file: secrets.yaml
rotate: [consul/gossip_key]
steps:
  - name: gossip key
    hosts: web01
    task: file
    with: {path: "` + out + `/key", content: '{{ secret "consul/gossip_key" "base64:32" }}', mode: "0600"}
  - name: old key
    hosts: web01
    when: ne (retired "consul/gossip_key") ""
    task: file
    with: {path: "` + out + `/old", content: '{{ retired "consul/gossip_key" }}', mode: "0600"}
`})
	rb := filepath.Join(dir, "rotate.yaml")
	// The first run has nothing to retire yet: it makes the key.
	code, stdout, errOut := f.apply(rb)
	if code != cli.ExitOK || !strings.Contains(errOut, "consul/gossip_key: nothing to retire yet") {
		t.Fatalf("first apply: exit %d\n%s%s", code, stdout, errOut)
	}
	key1 := read(t, filepath.Join(out, "key"))
	before := read(t, secretsFile)
	code, stdout, errOut = f.apply(rb, "--check")
	if code != cli.ExitDrift || !strings.Contains(stdout, "gossip key") || read(t, secretsFile) != before || read(t, filepath.Join(out, "key")) != key1 {
		t.Fatalf("check: exit %d\n%s%s", code, stdout, errOut)
	}
	if strings.Contains(stdout+errOut, key1) {
		t.Fatal("the check printed the key")
	}
	code, stdout, errOut = f.apply(rb)
	if code != cli.ExitOK || !strings.Contains(errOut, "consul/gossip_key: retired to consul/gossip_key_previous") {
		t.Fatalf("rotating apply: exit %d\n%s%s", code, stdout, errOut)
	}
	key2 := read(t, filepath.Join(out, "key"))
	if key2 == key1 || read(t, filepath.Join(out, "old")) != key1 {
		t.Errorf("after the rotation: the key changed %v, the old one is the first %v", key2 != key1, read(t, filepath.Join(out, "old")) == key1)
	}
	if strings.Contains(stdout+errOut, key1) || strings.Contains(stdout+errOut, key2) {
		t.Fatal("the run printed a key")
	}

	// Where a name comes from is checked before anything runs.
	files(t, dir, map[string]string{"bad.yaml": "rotate: [consul/gossip_key]\nsteps:\n  - {name: x, hosts: web01, task: debug, with: {msg: hi}}\n"})
	if code, stdout, errOut = f.apply(filepath.Join(dir, "bad.yaml")); code == cli.ExitOK || !strings.Contains(stdout+errOut, "bad.yaml:1:") || !strings.Contains(stdout+errOut, "secrets_file") {
		t.Errorf("rotate without a secrets_file: exit %d\n%s%s", code, stdout, errOut)
	}
}
