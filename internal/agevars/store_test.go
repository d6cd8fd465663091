package agevars_test

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/runbookdev/runbook/internal/agevars"
)

func TestStoreMakesOnceAndKeeps(t *testing.T) {
	home(t)
	key, pub := ageKey(t)
	t.Setenv(agevars.EnvKeyFile, key)
	path := filepath.Join(t.TempDir(), "secrets.yaml")
	// A file with a value already: it keeps its bytes.
	enc, _, err := parse(t, path, []byte("# kept\nother: 0ther-S3cret\n")).Encrypt(recipients(t, pub))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, enc, 0o600); err != nil {
		t.Fatal(err)
	}

	// Check mode: pending, and the file untouched.
	v, pending, err := agevars.NewStore(path, true).Secret("consul/gossip_key", "base64:32")
	if err != nil || !pending || v != agevars.Pending("consul/gossip_key") || read(t, path) != string(enc) {
		t.Fatalf("check mode: %q %v %v", v, pending, err)
	}

	// Many hosts at once: one value.
	s := agevars.NewStore(path, false)
	var wg sync.WaitGroup
	got := make([]string, 8)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, pending, err := s.Secret("consul/gossip_key", "base64:32")
			if err != nil || pending {
				t.Errorf("%v %v", pending, err)
			}
			got[i] = v
		}()
	}
	wg.Wait()
	if b, err := base64.StdEncoding.DecodeString(got[0]); err != nil || len(b) != 32 {
		t.Errorf("base64:32 gave %d bytes (%v)", len(b), err)
	}
	if slices.Compact(slices.Clone(got))[0] != got[0] || len(slices.Compact(slices.Clone(got))) != 1 {
		t.Errorf("several values: %q", got)
	}
	after := read(t, path)
	if strings.Contains(after, got[0]) || !strings.HasPrefix(after, string(enc)) || !strings.Contains(after[len(enc):], "consul:\n  gossip_key: !encrypted |\n") {
		t.Errorf("the file:\n%s", after)
	}
	// A later run, and check mode: the same value, nothing written.
	for _, check := range []bool{false, true} {
		v, pending, err := agevars.NewStore(path, check).Secret("consul/gossip_key", "base64:32")
		if err != nil || pending || v != got[0] || read(t, path) != after {
			t.Errorf("check %v: %q %v %v", check, v, pending, err)
		}
	}
	// A second secret in the same mapping: only consul's lines change.
	if _, _, err := agevars.NewStore(path, false).Secret("consul/acl_token", "uuid"); err != nil {
		t.Fatal(err)
	}
	if got := changedKeys(after, read(t, path)); !slices.Equal(got, []string{"consul"}) {
		t.Errorf("changed %v", got)
	}
	if !strings.Contains(read(t, path), chunks(after)["consul"]) {
		t.Errorf("gossip_key's lines changed:\n%s", read(t, path))
	}
	if mode := fileMode(t, path); mode != 0o600 {
		t.Errorf("mode %v", mode)
	}
}

func fileMode(t *testing.T, p string) os.FileMode {
	t.Helper()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStoreKinds(t *testing.T) {
	home(t)
	key, _ := ageKey(t)
	t.Setenv(agevars.EnvKeyFile, key)
	s := agevars.NewStore(filepath.Join(t.TempDir(), "s.yaml"), false)
	for kind, want := range map[string]*regexp.Regexp{
		"hex:16":      regexp.MustCompile(`^[0-9a-f]{32}$`),
		"uuid":        regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`),
		"password:24": regexp.MustCompile(`^[A-Za-z0-9]{24}$`),
		"base64:16":   regexp.MustCompile(`^[A-Za-z0-9+/]{22}==$`),
	} {
		name := "k_" + regexp.MustCompile(`\W`).ReplaceAllString(kind, "_")
		v, _, err := s.Secret(name, kind)
		if err != nil || !want.MatchString(v) {
			t.Errorf("%s: %q %v", kind, v, err)
		}
	}
	for _, tc := range []struct{ name, kind, want string }{
		{"a", "base64", `kind "base64": want base64:N or hex:N (N random bytes), uuid, or password:N`},
		{"a", "hex:0", `kind "hex:0": want a size from 1 to 4096`},
		{"a", "uuid:4", `kind "uuid:4": want base64:N`},
		{"a", "rsa", `kind "rsa": want`},
		{"2a", "uuid", `secret "2a": a name is a variable name`},
		{"a//b", "uuid", `secret "a//b": a name is a variable name`},
		{"k_uuid/x", "uuid", `k_uuid holds one value, not a mapping of names`},
	} {
		if _, _, err := s.Secret(tc.name, tc.kind); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %s: %v, want %q", tc.name, tc.kind, err, tc.want)
		}
	}
}

// A secrets file in a directory that is not there yet (secrets/ beside
// the runbooks, kept out of git) is made with its directory, 0700, as
// the first secret is; check mode makes neither.
func TestStoreMakesTheSecretsDirectory(t *testing.T) {
	home(t)
	key, _ := ageKey(t)
	t.Setenv(agevars.EnvKeyFile, key)
	dir := filepath.Join(t.TempDir(), "secrets")
	path := filepath.Join(dir, "site.yaml")
	if _, pending, err := agevars.NewStore(path, true).Secret("a", "uuid"); err != nil || !pending {
		t.Fatalf("check mode: %v %v", pending, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("check mode made %s: %v", dir, err)
	}
	if _, _, err := agevars.NewStore(path, false).Secret("a", "uuid"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s: %v %v", dir, fi.Mode(), err)
	}
}
