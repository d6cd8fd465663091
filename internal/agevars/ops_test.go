package agevars_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"golang.org/x/crypto/ssh"
)

// chunks splits a YAML file's text at each line that starts a top-level
// key, by key ("" for what comes before the first).
func chunks(text string) map[string]string {
	out := map[string]string{}
	key := ""
	for _, l := range strings.SplitAfter(text, "\n") {
		if l != "" && l[0] != ' ' && l[0] != '#' && l[0] != '\n' && strings.Contains(l, ":") {
			key = l[:strings.Index(l, ":")]
		}
		out[key] += l
	}
	return out
}

// changedKeys lists the top-level keys whose text differs between a and b.
func changedKeys(a, b string) []string {
	ca, cb := chunks(a), chunks(b)
	var out []string
	for k, v := range cb {
		if ca[k] != v {
			out = append(out, k)
		}
	}
	for k := range ca {
		if _, ok := cb[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// encrypted makes an encrypted copy of plainFile for the user's age key.
func encrypted(t *testing.T) (path string, enc []byte, pub string) {
	t.Helper()
	home(t)
	key, pub := ageKey(t)
	t.Setenv(agevars.EnvKeyFile, key)
	path = filepath.Join(t.TempDir(), "secrets.yaml")
	enc, _, err := parse(t, path, []byte(plainFile)).Encrypt(recipients(t, pub))
	if err != nil {
		t.Fatal(err)
	}
	return path, enc, pub
}

var armored = regexp.MustCompile(`(?s)-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----\n`)

func TestSetChangesOnlyItsValue(t *testing.T) {
	path, enc, _ := encrypted(t)
	for _, tc := range []struct {
		path []string
		key  string // the top-level name whose lines change
		add  bool
	}{
		{[]string{"gossip_key"}, "gossip_key", false},
		{[]string{"acl", "bootstrap"}, "acl", false},
		{[]string{"new_token"}, "new_token", true},
		{[]string{"consul", "gossip_key"}, "consul", true},
	} {
		out, err := parse(t, path, enc).Set(ids(t), tc.path, "n3w-v4lue", nil)
		if err != nil {
			t.Fatalf("%v: %v", tc.path, err)
		}
		if got := changedKeys(string(enc), string(out)); !slices.Equal(got, []string{tc.key}) {
			t.Errorf("%v: changed %v, want only %s:\n%s", tc.path, got, tc.key, out)
		}
		if tc.add && !strings.HasSuffix(string(out), "# the end\n"+tc.key+":") && !strings.Contains(string(out), "# the end\n"+tc.key+":") {
			t.Errorf("%v: not added at the end:\n%s", tc.path, out)
		}
		vals, secret, err := load(t, path, out)
		if err != nil {
			t.Fatal(err)
		}
		v := vals[tc.path[0]]
		if len(tc.path) == 2 {
			v = v.(map[string]any)[tc.path[1]]
		}
		if v != "n3w-v4lue" || !secret[tc.path[0]] || strings.Contains(string(out), "n3w-v4lue") {
			t.Errorf("%v: loaded %v (secret %v)", tc.path, v, secret[tc.path[0]])
		}
	}
	// The value it already holds: nothing to write.
	if _, err := parse(t, path, enc).Set(ids(t), []string{"gossip_key"}, "c2VjcmV0LWdvc3NpcC1rZXk=", nil); !errors.Is(err, agevars.ErrUnchanged) {
		t.Errorf("setting the same value: %v", err)
	}
	if _, err := parse(t, path, enc).Set(ids(t), []string{"port", "x"}, "v", nil); err == nil || !strings.Contains(err.Error(), "port holds one value, not a mapping of names") {
		t.Errorf("setting inside a number: %v", err)
	}
}

func TestSetMakesAFile(t *testing.T) {
	home(t)
	_, pub := ageKey(t)
	out, err := parse(t, "new.yaml", nil).Set(nil, []string{"tok"}, "s3cr3t-value", recipients(t, pub))
	if err != nil {
		t.Fatal(err)
	}
	if want := "runbook_encrypted:\n  recipients:\n    - " + pub + "\ntok: !encrypted |\n"; !strings.HasPrefix(string(out), want) {
		t.Errorf("got\n%s\nwant it to start with\n%s", out, want)
	}
	if _, err := parse(t, "new.yaml", nil).Set(nil, []string{"tok"}, "x", nil); err == nil || !strings.Contains(err.Error(), "names no recipients: make an age key with `runbook secrets init`") {
		t.Errorf("no recipients: %v", err)
	}
}

func TestEditKeepsWhatDidNotChange(t *testing.T) {
	path, enc, pub := encrypted(t)
	f := parse(t, path, enc)
	e, err := f.StartEdit(ids(t))
	if err != nil {
		t.Fatal(err)
	}
	buf := string(e.Buffer)
	if strings.Contains(buf, "AGE ENCRYPTED") || !strings.Contains(buf, "bootstrap: b00t-str4p-t0ken") {
		t.Fatalf("the editor's buffer:\n%s", buf)
	}
	// Left as it was: the file is the same, byte for byte.
	out, err := e.Finish(e.Buffer, nil)
	if err != nil || string(out) != string(enc) {
		t.Fatalf("an edit that changed nothing changed the file (%v):\n%s", err, out)
	}
	// One value changed, one added, and a comment: only those lines.
	edited := strings.Replace(buf, "b00t-str4p-t0ken", "n3w-b00t-t0ken", 1)
	edited = strings.Replace(edited, "enabled: true\n", "enabled: true\nadded: 4dded-value # new\n", 1)
	out, err = e.Finish([]byte(edited), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := changedKeys(string(enc), string(out)); !slices.Equal(got, []string{"acl", "added"}) {
		t.Errorf("changed %v, want acl and added:\n%s", got, out)
	}
	changed := chunks(string(out))["acl"]
	if !strings.Contains(string(out), "\nadded: !encrypted | # new\n") {
		t.Errorf("added:\n%s", out)
	}
	for _, s := range []string{"n3w-b00t-t0ken", "4dded-value", "b00t-str4p-t0ken"} {
		if strings.Contains(string(out), s) {
			t.Errorf("%q in the file", s)
		}
	}
	// ttl, which did not change, keeps its line; bootstrap's ciphertext
	// is new.
	if !strings.Contains(changed, "  ttl: 30\n") || len(armored.FindAllString(changed, -1)) != 1 {
		t.Errorf("changed:\n%s", changed)
	}
	vals, _, err := load(t, path, out)
	if err != nil || vals["added"] != "4dded-value" || vals["acl"].(map[string]any)["bootstrap"] != "n3w-b00t-t0ken" {
		t.Errorf("%v %v", vals, err)
	}
	// A recipient added in the editor: every value encrypted anew.
	key2, pub2 := ageKey(t)
	edited = strings.Replace(buf, "    - "+pub+"\n", "    - "+pub+"\n    - "+pub2+"\n", 1)
	out, err = e.Finish([]byte(edited), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(armored.FindAllString(string(out), -1)), len(armored.FindAllString(string(enc), -1)); got != want {
		t.Errorf("%d values, want %d", got, want)
	}
	for _, ct := range armored.FindAllString(string(enc), -1) {
		if strings.Contains(string(out), ct) {
			t.Errorf("a value was not encrypted anew for the new recipient")
		}
	}
	t.Setenv(agevars.EnvKeyFile, key2)
	if vals, _, err := load(t, path, out); err != nil || vals["pin"] != "1234" {
		t.Errorf("the added recipient: %v %v", vals, err)
	}
	// Bad YAML from the editor: an error saying where, in the edited text.
	if _, err := e.Finish([]byte("a: [\n"), nil); err == nil || !strings.Contains(err.Error(), path+" (as edited):") {
		t.Errorf("bad YAML: %v", err)
	}
}

func TestRekey(t *testing.T) {
	path, enc, pub := encrypted(t)
	key1 := os.Getenv(agevars.EnvKeyFile)
	key2, pub2 := ageKey(t)
	h := os.Getenv("HOME")
	os.MkdirAll(filepath.Join(h, ".ssh"), 0o700)
	edPub, err := sshkeys.Generate(filepath.Join(t.TempDir(), "id_ed25519"), "carol@ci")
	if err != nil {
		t.Fatal(err)
	}
	ed := strings.TrimSpace(string(ssh.MarshalAuthorizedKey(edPub))) + " carol@ci"

	out, rs, err := parse(t, path, enc).Rekey(ids(t), recipients(t, pub2, ed), nil)
	if err != nil || len(rs) != 3 {
		t.Fatalf("add: %v %v", rs, err)
	}
	if !strings.Contains(string(out), "    - "+pub+"\n    - "+pub2+"\n    - "+ed+"\n") || !strings.Contains(string(out), "port: 8500 # not secret\n") {
		t.Errorf("header:\n%s", out)
	}
	t.Setenv(agevars.EnvKeyFile, key2)
	if vals, _, err := load(t, path, out); err != nil || vals["gossip_key"] != "c2VjcmV0LWdvc3NpcC1rZXk=" {
		t.Errorf("the added key: %v %v", vals, err)
	}
	// Removed (the SSH key by its fingerprint): the new file is not for it.
	out2, rs, err := parse(t, path, out).Rekey(ids(t), nil, []string{pub, ssh.FingerprintSHA256(edPub)})
	if err != nil || len(rs) != 1 || rs[0].Text != pub2 {
		t.Fatalf("remove: %v %v", rs, err)
	}
	t.Setenv(agevars.EnvKeyFile, key1)
	_, _, err = load(t, path, out2)
	if err == nil || !strings.Contains(err.Error(), "it is not encrypted for any of your keys") || !strings.Contains(err.Error(), "it is for "+pub2) {
		t.Errorf("the removed key: %v", err)
	}
	t.Setenv(agevars.EnvKeyFile, key2)
	if _, _, err := parse(t, path, out2).Rekey(ids(t), nil, []string{pub2}); err == nil || !strings.Contains(err.Error(), "would have no recipient left") {
		t.Errorf("removing the last: %v", err)
	}
	if _, _, err := parse(t, path, out2).Rekey(ids(t), nil, []string{pub}); err == nil || !strings.Contains(err.Error(), "has no recipient \""+pub[:20]) || !strings.Contains(err.Error(), "its recipients are "+pub2) {
		t.Errorf("removing one that is not there: %v", err)
	}
	// Rekeying needs to read the values.
	t.Setenv(agevars.EnvKeyFile, key1)
	if _, _, err := parse(t, path, out2).Rekey(ids(t), recipients(t, pub), nil); err == nil || !strings.Contains(err.Error(), "cannot decrypt") {
		t.Errorf("rekey by someone who cannot read it: %v", err)
	}
}

func TestNames(t *testing.T) {
	path, enc, _ := encrypted(t)
	block := armored.FindString(string(enc))
	mixed := string(enc) + "extra: plain-value\nmix:\n  a: plain\n  b: !encrypted |\n" + indent(block, "    ") + "\n"
	var got []string
	for _, n := range parse(t, path, []byte(mixed)).Names() {
		got = append(got, n.Name+"="+n.State)
	}
	want := "gossip_key=encrypted port=plain enabled=plain ca_key=encrypted acl=encrypted tokens=encrypted pin=encrypted empty=plain extra=plain mix=partly encrypted"
	if strings.Join(got, " ") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, " "), want)
	}
}

func indent(s, by string) string {
	return by + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n"+by)
}
