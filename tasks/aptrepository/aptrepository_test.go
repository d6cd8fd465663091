package aptrepository_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/clearsign"
	"github.com/ProtonMail/go-crypto/openpgp/packet"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/aptrepository"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

// newKey makes a signing key and returns it with its public half, armored.
func newKey(t *testing.T, name string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", &packet.Config{RSABits: 2048})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, b.String()
}

// repoScript is a shell script that lays out a file:// repository on the
// host at dir, suite stable, component main, one package listed, its
// InRelease signed by signer.
func repoScript(t *testing.T, dir string, signer *openpgp.Entity) string {
	t.Helper()
	packages := "Package: rb-hello\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.com>\nFilename: pool/rb-hello_1.0_all.deb\nSize: 1\nSHA256: " + strings.Repeat("0", 64) + "\nDescription: test\n"
	sum := sha256.Sum256([]byte(packages))
	release := fmt.Sprintf("Origin: rb\nLabel: rb\nSuite: stable\nCodename: stable\nDate: %s\nArchitectures: amd64 arm64 all\nComponents: main\nSHA256:\n", time.Now().UTC().Add(-time.Hour).Format(time.RFC1123))
	var files []string
	for _, arch := range []string{"amd64", "arm64", "all"} {
		release += fmt.Sprintf(" %x %d main/binary-%s/Packages\n", sum, len(packages), arch)
		files = append(files, "main/binary-"+arch+"/Packages")
	}
	var signed bytes.Buffer
	w, err := clearsign.Encode(&signed, signer.PrivateKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte(release))
	w.Close()
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	script := "set -e\nd=" + dir + "/dists/stable\n"
	for _, f := range files {
		script += fmt.Sprintf("mkdir -p $d/%s && echo %s | base64 -d > $d/%s\n", filepath.Dir(f), b64(packages), f)
	}
	return script + fmt.Sprintf("echo %s | base64 -d > $d/InRelease\nchmod -R a+rX %s\n", b64(signed.String()), dir)
}

func rb(key string) string {
	return fmt.Sprintf(`
steps:
  - name: repo
    hosts: h1
    task: apt_repository
    with:
      name: rb-local
      uris: [file:///srv/repo]
      suites: [stable]
      components: [main]
      key: %q
`, key)
}

// A local repository signed with a key the test makes: apt-get update must
// accept it; with another key in the keyring the step fails.
func TestAptRepositoryTimeline(t *testing.T) {
	env := labkit.New(t)
	signer, pub := newKey(t, "rb-repo")
	_, other := newKey(t, "rb-other")
	env.Sh(repoScript(t, "/srv/repo", signer))
	good := rb(pub)

	r := env.Apply(good, "--check", "--diff")
	changes := strings.Join(r.Result("repo").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "+ create /etc/apt/keyrings/rb-local.asc") || !strings.Contains(changes, "+ create /etc/apt/sources.list.d/rb-local.sources") ||
		!strings.Contains(changes, "+ apt-get update for rb-local") || !strings.Contains(r.Result("repo").Diff, "+Signed-By: /etc/apt/keyrings/rb-local.asc") {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("ls /etc/apt/sources.list.d /etc/apt/keyrings"); strings.Contains(got, "rb-local") {
		t.Fatalf("check mode wrote: %s", got)
	}
	if r = env.Apply(good); r.Exit != tasktest.ExitOK || r.Result("repo").Status != engine.Changed {
		t.Fatalf("apply: %s", r)
	}
	want := "Types: deb\nURIs: file:///srv/repo\nSuites: stable\nComponents: main\nSigned-By: /etc/apt/keyrings/rb-local.asc"
	if got := env.Sh("cat /etc/apt/sources.list.d/rb-local.sources; stat -c '%a %U' /etc/apt/keyrings/rb-local.asc"); got != want+"\n644 root" {
		t.Fatalf("the files: %q", got)
	}
	if got := env.Sh("apt-cache policy rb-hello"); !strings.Contains(got, "file:/srv/repo stable/main") {
		t.Fatalf("apt does not know the repository's package: %s", got)
	}
	if r = env.Apply(good, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}

	// Drift by hand: a component added, the key file edited.
	env.Sh("sed -i 's/^Components: main/Components: main contrib/' /etc/apt/sources.list.d/rb-local.sources && echo >> /etc/apt/keyrings/rb-local.asc")
	r = env.Apply(good, "--check")
	changes = strings.Join(r.Result("repo").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "~ content /etc/apt/sources.list.d/rb-local.sources") || !strings.Contains(changes, "~ content /etc/apt/keyrings/rb-local.asc") {
		t.Fatalf("drift check: %s", r)
	}
	if r = env.Apply(good); r.Exit != tasktest.ExitOK {
		t.Fatalf("repair: %s", r)
	}
	if r = env.Apply(good, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after repair: %s", r)
	}

	// The wrong key: apt refuses the repository, and so does the step.
	r = env.Apply(rb(other))
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Result("repo").Message, "apt-get update refused repository rb-local") {
		t.Fatalf("wrong key: %s", r)
	}

	absent := "steps:\n  - {name: repo, hosts: h1, task: apt_repository, with: {name: rb-local, state: absent}}\n"
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK || r.Result("repo").Status != engine.Changed {
		t.Fatalf("absent: %s", r)
	}
	if got := env.Sh("ls /etc/apt/sources.list.d /etc/apt/keyrings"); strings.Contains(got, "rb-local") {
		t.Fatalf("after absent: %s", got)
	}
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent, second check: %s", r)
	}
}

// Bad parameters, a private key among them, are refused at validation.
func TestAptRepositoryRefusesBadInput(t *testing.T) {
	e, pub := newKey(t, "rb-v")
	var priv bytes.Buffer
	w, _ := armor.Encode(&priv, openpgp.PrivateKeyType, nil)
	e.SerializePrivate(w, nil)
	w.Close()
	base := "{name: %s, uris: [https://deb.example.com], suites: [bookworm], components: %s, key: %q}"
	for _, with := range []string{
		fmt.Sprintf(base, "../x", "[main]", pub),
		fmt.Sprintf(base, "x", "[]", pub),
		fmt.Sprintf(base, "x", "[main contrib]", pub),
		fmt.Sprintf(base, "x", "[main]", priv.String()),
		fmt.Sprintf(base, "x", "[main]", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nnotakey\n-----END PGP PUBLIC KEY BLOCK-----\n"),
		fmt.Sprintf(base, "x", "[main]", "ssh-ed25519 AAAA"),
		"{name: x, uris: [https://deb.example.com], suites: [bookworm], components: [main]}",
	} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: apt_repository, with: "+with+"}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitError {
			t.Errorf("%.80s: %s", with, r)
		}
	}
	f := filepath.Join(t.TempDir(), "site.yaml")
	os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: apt_repository, with: "+fmt.Sprintf(base, "x", "[main]", pub)+"}\n"), 0o644)
	if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitOK {
		t.Errorf("a good one: %s", r)
	}
}
