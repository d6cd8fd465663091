package agevars_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/pki"
)

// rotateFile makes a secrets file as runs make it: generate-once secrets,
// a CA and a leaf, a value beside them. It returns the plaintexts.
func rotateFile(t *testing.T) (path string, plain map[string]string) {
	t.Helper()
	home(t)
	key, _ := ageKey(t)
	t.Setenv(agevars.EnvKeyFile, key)
	path = filepath.Join(t.TempDir(), "secrets.yaml")
	s := agevars.NewStore(path, false)
	plain = map[string]string{
		"consul/gossip_key": must(s.Secret("consul/gossip_key", "base64:32")),
		"consul/acl_token":  must(s.Secret("consul/acl_token", "uuid")),
		"token":             must(s.Secret("token", "password:24")),
		"other":             must(s.Secret("other", "hex:16")),
		"consul/ca/cert":    must(s.CA("consul/ca", pki.CAOptions{})),
		"consul/ca/key":     must(s.Key("consul/ca")),
	}
	return path, plain
}

func TestRotateRetiresValues(t *testing.T) {
	path, plain := rotateFile(t)
	before, old := read(t, path), sealed(t, path)

	got, err := agevars.Rotate(path, []string{"consul/gossip_key", "token", "consul/ca"})
	if err != nil {
		t.Fatal(err)
	}
	want := []agevars.Retired{
		{"consul/gossip_key", "consul/gossip_key_previous"},
		{"token", "token_previous"},
		{"consul/ca", "consul/ca_previous"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("retired (-want +got):\n%s", d)
	}
	after := read(t, path)
	// Moved as written, ciphertext and all; every other value as it was.
	moved := map[string]string{
		"consul/gossip_key": "consul/gossip_key_previous",
		"token":             "token_previous",
		"consul/ca/key":     "consul/ca_previous/key",
		"consul/ca/cert":    "consul/ca_previous/cert",
	}
	wantSealed := map[string]string{}
	for k, v := range old {
		if m, ok := moved[k]; ok {
			k = m
		}
		wantSealed[k] = v
	}
	if d := cmp.Diff(wantSealed, sealed(t, path)); d != "" {
		t.Errorf("values (-want +got):\n%s", d)
	}
	for k, v := range sealed(t, path) {
		if k != "runbook_encrypted" && !strings.HasPrefix(v, agevars.Tag+" ") {
			t.Errorf("%s is not encrypted: %s", k, v)
		}
	}
	for name, v := range plain {
		for _, line := range strings.Split(v, "\n") {
			if len(line) > 8 && strings.Contains(after, line) {
				t.Errorf("the file holds %s's plaintext:\n%s", name, after)
			}
		}
	}
	// Only the entries rotated are written anew: the header and other
	// keep their bytes, and so does every encrypted value inside consul.
	if got := changedKeys(before, after); !slices.Equal(got, []string{"consul", "token", "token_previous"}) {
		t.Errorf("changed %v:\n%s", got, after)
	}
	for _, k := range []string{"consul/acl_token", "consul/gossip_key"} {
		block := strings.ReplaceAll(strings.TrimSuffix(strings.TrimPrefix(old[k], agevars.Tag+" "), "\n"), "\n", "\n    ")
		if !strings.Contains(after, block) {
			t.Errorf("%s's text changed:\n%s", k, after)
		}
	}
	if fileMode(t, path) != 0o600 {
		t.Errorf("mode %v", fileMode(t, path))
	}

	// The next run makes each anew; the retired ones read as they were.
	s := agevars.NewStore(path, false)
	if v := must(s.Secret("consul/gossip_key_previous", "base64:32")); v != plain["consul/gossip_key"] {
		t.Errorf("gossip_key_previous is %q, want the old key", v)
	}
	gossip := must(s.Secret("consul/gossip_key", "base64:32"))
	if gossip == plain["consul/gossip_key"] || len(gossip) != len(plain["consul/gossip_key"]) {
		t.Errorf("the new gossip key %q, the old %q", gossip, plain["consul/gossip_key"])
	}
	if v := must(s.Secret("token", "password:24")); v == plain["token"] {
		t.Errorf("the token was not made anew")
	}
	if k, c := must(s.Key("consul/ca")), must(s.CA("consul/ca", pki.CAOptions{})); k == plain["consul/ca/key"] || c == plain["consul/ca/cert"] {
		t.Errorf("the CA was not made anew")
	}
	if v := must(s.Secret("consul/acl_token", "uuid")); v != plain["consul/acl_token"] {
		t.Errorf("acl_token changed")
	}

	// A second rotation replaces the retired value with the one it retires.
	kept := sealed(t, path)
	if _, err := agevars.Rotate(path, []string{"consul/gossip_key"}); err != nil {
		t.Fatal(err)
	}
	again := sealed(t, path)
	if _, ok := again["consul/gossip_key"]; ok || again["consul/gossip_key_previous"] != kept["consul/gossip_key"] {
		t.Errorf("second rotation:\n%s", read(t, path))
	}
	if v := must(agevars.NewStore(path, false).Secret("consul/gossip_key_previous", "base64:32")); v != gossip {
		t.Errorf("gossip_key_previous after a second rotation is not the second key")
	}
	if n := strings.Count(read(t, path), "gossip_key_previous:"); n != 1 {
		t.Errorf("%d gossip_key_previous:\n%s", n, read(t, path))
	}
}

func TestRotateErrors(t *testing.T) {
	path, _ := rotateFile(t)
	before := read(t, path)
	for _, tc := range []struct {
		names []string
		want  string
	}{
		{[]string{"consul/nope"}, `rotate "consul/nope": ` + path + ` holds no value consul/nope (consul holds gossip_key, acl_token, ca): ` + "`runbook secrets show " + path + "` lists its names"},
		{[]string{"nope"}, `rotate "nope": ` + path + " holds no value nope: `runbook secrets show"},
		// Nothing is written when one of several fails.
		{[]string{"token", "missing/x"}, `holds no value missing/x`},
		{[]string{"consul/gossip_key_previous"}, `rotate "consul/gossip_key_previous": a retired value, kept to be put back by hand: rotate consul/gossip_key`},
		{[]string{"consul/ca/key"}, `rotate "consul/ca/key": the key of the certificate kept under consul/ca: rotate consul/ca, its key and certificate together`},
		{[]string{"runbook_encrypted"}, `is the file's header`},
		{[]string{"token", "token"}, `rotate "token": named twice`},
		{[]string{"a//b"}, `a name is a variable name`},
		{nil, `name the secrets to rotate`},
	} {
		_, err := agevars.Rotate(path, tc.names)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.names, err, tc.want)
		}
		if read(t, path) != before {
			t.Fatalf("%q changed the file", tc.names)
		}
	}
	if _, err := agevars.Rotate(filepath.Join(t.TempDir(), "none.yaml"), []string{"a"}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing file: %v", err)
	}
}

// A rotation and runs making secrets take turns on the file's lock:
// neither loses what the other wrote.
func TestRotateTakesTurnsWithRuns(t *testing.T) {
	path, plain := rotateFile(t)
	old := plain["consul/gossip_key"]
	for i := range 10 {
		var wg sync.WaitGroup
		var made, gossip string
		var errs [3]error
		wg.Add(3)
		go func() {
			defer wg.Done()
			_, errs[0] = agevars.Rotate(path, []string{"consul/gossip_key"})
		}()
		go func() {
			defer wg.Done()
			made, _, errs[1] = agevars.NewStore(path, false).Secret(fmt.Sprintf("made/n%d", i), "hex:16")
		}()
		go func() {
			defer wg.Done()
			gossip, _, errs[2] = agevars.NewStore(path, false).Secret("consul/gossip_key", "base64:32")
		}()
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		s := agevars.NewStore(path, false)
		if v := must(s.Secret(fmt.Sprintf("made/n%d", i), "hex:16")); v != made {
			t.Fatalf("round %d: the secret the run made was lost", i)
		}
		if v := must(s.Secret("consul/gossip_key_previous", "base64:32")); v != old {
			t.Fatalf("round %d: gossip_key_previous is not the key retired", i)
		}
		// The run read the key before the rotation, or made a new one
		// after it, which is then in the file.
		if _, kept := sealed(t, path)["consul/gossip_key"]; gossip == old && kept || gossip != old && (!kept || must(s.Secret("consul/gossip_key", "base64:32")) != gossip) {
			t.Fatalf("round %d: the run got the old key: %v; the file holds one: %v", i, gossip == old, kept)
		}
		if _, err := agevars.Rotate(path, []string{"consul/gossip_key"}); err != nil && !strings.Contains(err.Error(), "holds no value") {
			t.Fatal(err)
		}
		// Start the next round from a file holding the key, as retired.
		old = must(agevars.NewStore(path, false).Secret("consul/gossip_key", "base64:32"))
	}
}

// Retired finds the value a name had before its rotation, whether the
// name itself or a mapping above it was rotated, and "" before any.
func TestRetiredFindsThePreviousValue(t *testing.T) {
	path, plain := rotateFile(t)
	s := agevars.NewStore(path, false)
	if v, err := s.Retired("consul/gossip_key"); v != "" || err != nil {
		t.Fatalf("before a rotation: %q %v", v, err)
	}
	if _, err := agevars.Rotate(path, []string{"consul/gossip_key", "consul/ca"}); err != nil {
		t.Fatal(err)
	}
	s = agevars.NewStore(path, true)
	for name, want := range map[string]string{
		"consul/gossip_key": plain["consul/gossip_key"], // rotated itself
		"consul/ca/key":     plain["consul/ca/key"],     // its mapping rotated
		"consul/acl_token":  "",                         // not rotated
		"nothing/here":      "",
	} {
		if got, err := s.Retired(name); got != want || err != nil {
			t.Errorf("Retired(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := s.Retired("consul/gossip_key_previous"); err == nil {
		t.Error("Retired of a _previous name: no error")
	}
	// Check mode does not make the new one; a real run does, and the
	// retired value stays where it was.
	if v, _, _ := s.Secret("consul/gossip_key", "base64:32"); v != agevars.Pending("consul/gossip_key") {
		t.Errorf("check mode made a secret: %q", v)
	}
	s = agevars.NewStore(path, false)
	if v := must(s.Secret("consul/gossip_key", "base64:32")); v == plain["consul/gossip_key"] {
		t.Error("the new gossip key is the old one")
	}
	if got, _ := s.Retired("consul/gossip_key"); got != plain["consul/gossip_key"] {
		t.Errorf("after the new one was made, Retired = %q", got)
	}
}

// A check of a run that would rotate secrets sees them as a real run
// would after retiring them: not made yet (pending), their current
// values as the retired ones. The file is not changed.
func TestRetiringInCheckMode(t *testing.T) {
	path, plain := rotateFile(t)
	before := read(t, path)
	s := agevars.NewStore(path, true)
	if err := s.Retiring([]string{"consul/gossip_key", "consul/ca"}); err != nil {
		t.Fatal(err)
	}
	if v, pending, err := s.Secret("consul/gossip_key", "base64:32"); !pending || err != nil || v != agevars.Pending("consul/gossip_key") {
		t.Errorf("a retiring secret in check mode: %q pending %v %v", v, pending, err)
	}
	if _, pending, _ := s.Key("consul/ca"); !pending {
		t.Error("a retiring CA's key in check mode is not pending")
	}
	if v, pending, _ := s.Secret("consul/acl_token", "uuid"); pending || v != plain["consul/acl_token"] {
		t.Errorf("a secret not rotated: %q pending %v", v, pending)
	}
	if v, _ := s.Retired("consul/gossip_key"); v != plain["consul/gossip_key"] {
		t.Errorf("Retired of a retiring secret: %q", v)
	}
	if v, _ := s.Retired("consul/ca/key"); v != plain["consul/ca/key"] {
		t.Errorf("Retired inside a retiring mapping: %q", v)
	}
	if read(t, path) != before {
		t.Error("check mode changed the secrets file")
	}
	for _, bad := range [][]string{{"consul/gossip_key_previous"}, {"no such name!"}} {
		if err := s.Retiring(bad); err == nil {
			t.Errorf("Retiring(%q): no error", bad)
		}
	}
}
