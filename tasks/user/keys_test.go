package user_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
	"golang.org/x/crypto/ssh"
)

// pubKey is a new ed25519 public key line with comment.
func pubKey(t *testing.T, comment string) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k))) + " " + comment
}

func TestUserAuthorizedKeysAndAppendGroupsTimeline(t *testing.T) {
	env := labkit.New(t)
	k1, k2, k3 := pubKey(t, "one@a"), pubKey(t, "two@b"), pubKey(t, "three@c")
	env.Sh("for g in rb-g1 rb-other; do getent group $g >/dev/null || groupadd $g; done")
	rb := func(exclusive bool) string {
		excl := ""
		if exclusive {
			excl = ", authorized_keys_exclusive: true"
		}
		return `
steps:
  - name: alice
    hosts: h1
    task: user
    with: {name: alice, create_home: true, shell: /bin/bash, groups: [rb-g1], append: true, authorized_keys: ["` + k1 + `", "` + k2 + `"]` + excl + `}
`
	}
	keys := func() string {
		return env.Sh("stat -c '%U %a' ~alice/.ssh ~alice/.ssh/authorized_keys; cat ~alice/.ssh/authorized_keys")
	}
	r := env.Apply(rb(false), "--check")
	changes := strings.Join(r.Result("alice").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "+ create user alice") || !strings.Contains(changes, "authorized_keys") {
		t.Fatalf("first check: %q\n%s", changes, r)
	}
	if got := env.Sh("getent passwd alice || echo none"); got != "none" {
		t.Fatal("check mode created the user")
	}
	if r = env.Apply(rb(false)); r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	if got, want := keys(), "alice 700\nalice 600\n"+k1+"\n"+k2; got != want {
		t.Errorf("authorized_keys:\n%s\nwant:\n%s", got, want)
	}
	if got := env.Sh("id -Gn alice"); got != "alice rb-g1" {
		t.Errorf("groups: %q", got)
	}
	if r = env.Apply(rb(false), "--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}

	// Drift by hand: out of rb-g1 into rb-other, k2 replaced by k3.
	env.Sh("usermod -G rb-other alice && su alice -c 'umask 077; grep -v two@b ~/.ssh/authorized_keys > ~/.ssh/k; echo \"" + k3 + "\" >> ~/.ssh/k; mv ~/.ssh/k ~/.ssh/authorized_keys'")
	r = env.Apply(rb(false), "--check")
	changes = strings.Join(r.Result("alice").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "~ groups + [rb-g1]") || !strings.Contains(changes, "+ key ssh-ed25519") || !strings.Contains(changes, "(two@b)") || strings.Contains(changes, "three@c") {
		t.Fatalf("drift: %q\n%s", changes, r)
	}
	if r = env.Apply(rb(false)); r.Exit != 0 {
		t.Fatalf("repair: %s", r)
	}
	if got, want := keys(), "alice 700\nalice 600\n"+k1+"\n"+k3+"\n"+k2; got != want {
		t.Errorf("after repair authorized_keys:\n%s\nwant (others left, as append leaves groups):\n%s", got, want)
	}
	if got := env.Sh("id -Gn alice"); got != "alice rb-g1 rb-other" {
		t.Errorf("append: groups %q, want rb-other kept", got)
	}
	if r = env.Apply(rb(false), "--check"); r.Exit != 0 {
		t.Fatalf("check after repair: %s", r)
	}

	// Exclusive: the key added by hand goes.
	r = env.Apply(rb(true), "--check")
	changes = strings.Join(r.Result("alice").Changes, ";")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "(three@c) (exclusive") {
		t.Fatalf("exclusive check: %q\n%s", changes, r)
	}
	if r = env.Apply(rb(true)); r.Exit != 0 {
		t.Fatalf("exclusive: %s", r)
	}
	if got, want := keys(), "alice 700\nalice 600\n"+k1+"\n"+k2; got != want {
		t.Errorf("exclusive authorized_keys:\n%s\nwant:\n%s", got, want)
	}
	if r = env.Apply(rb(true), "--check"); r.Exit != 0 {
		t.Fatalf("exclusive second check: %s", r)
	}
}
