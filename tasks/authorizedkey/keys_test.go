package authorizedkey

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
)

// newKey is a fresh public key as an authorized_keys line, comment less.
func newKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(ssh.MarshalAuthorizedKey(k)))
}

func TestEdit(t *testing.T) {
	a, b := newKey(t), newKey(t)
	want := func(opts, comment string) entry {
		ak := &AuthorizedKey{User: "u", Key: a + " alice", Options: opts, Comment: comment}
		e, err := ak.want()
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	for _, tc := range []struct {
		name         string
		old          string
		want         entry
		absent, excl bool
		out          string
		changes      int
	}{
		{name: "add to empty", old: "", want: want("", ""), out: a + " alice\n", changes: 1},
		{name: "present", old: "# keys\n" + a + " alice\n" + b + "\n", want: want("", ""), out: "# keys\n" + a + " alice\n" + b + "\n"},
		{name: "no final newline", old: b, want: want("", ""), out: b + "\n" + a + " alice\n", changes: 1},
		{name: "options in place", old: b + "\n" + a + " alice\n#end\n", want: want(`from="10.0.0.0/8",no-pty`, ""),
			out: b + "\n" + `from="10.0.0.0/8",no-pty ` + a + " alice\n#end\n", changes: 1},
		{name: "comment and options", old: `no-pty ` + a + " old\n", want: want("", "new one"), out: a + " new one\n", changes: 2},
		{name: "duplicate removed", old: a + " alice\n" + a + " alice\n", want: want("", ""), out: a + " alice\n", changes: 1},
		{name: "absent", old: b + "\n" + "no-pty " + a + " x\n", want: want("", ""), absent: true, out: b + "\n", changes: 1},
		{name: "absent already", old: b + "\n", want: want("", ""), absent: true, out: b + "\n"},
		{name: "exclusive", old: "# mine\n" + b + " bob\ngarbage\n" + a + " alice\n", want: want("", ""), excl: true,
			out: "# mine\n" + a + " alice\n", changes: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, summary := edit(tc.old, []entry{tc.want}, tc.absent, tc.excl)
			if d := cmp.Diff(tc.out, out); d != "" {
				t.Errorf("content (-want +got):\n%s", d)
			}
			if len(summary) != tc.changes {
				t.Errorf("summary %q: want %d changes", summary, tc.changes)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	k := newKey(t)
	for _, tc := range []struct {
		ak  AuthorizedKey
		err string // "" for valid
	}{
		{AuthorizedKey{User: "u", Key: k + " me"}, ""},
		{AuthorizedKey{User: "u", Key: k, Options: `from="10.0.0.0/8",no-agent-forwarding`, State: "present", Exclusive: true}, ""},
		{AuthorizedKey{User: "u", Key: k, State: "absent", Path: "/etc/ssh/keys/u"}, ""},
		{AuthorizedKey{User: "u", Key: "ssh-ed25519 AAAAnotbase64"}, "key "},
		{AuthorizedKey{User: "u", Key: "hello"}, "key "},
		{AuthorizedKey{User: "u", Key: k + "\n" + k}, "key must be one line"},
		{AuthorizedKey{User: "u", Key: "no-pty " + k}, "give them in options"},
		{AuthorizedKey{User: "u", Key: k, Options: `from="10.0.0.0/8", no-pty`}, "options "},
		{AuthorizedKey{User: "u", Key: k, Options: `from="10.0.0.0/8`}, "options "},
		{AuthorizedKey{User: "u", Key: k, Options: `from=10.0.0.1`}, "needs a value in double quotes"},
		{AuthorizedKey{User: "u", Key: k, Options: `no-pty="yes"`}, "takes no value"},
		{AuthorizedKey{User: "u", Key: k, Options: `no-fun`}, "does not know option"},
		{AuthorizedKey{User: "u", Key: k, Options: `restrict,command="uptime",No-PTY,environment="A=b c"`}, ""},
		{AuthorizedKey{User: "u", Key: k, Comment: "a\nb"}, "one line"},
		{AuthorizedKey{User: "u", Key: k, State: "gone"}, "state must be"},
		{AuthorizedKey{User: "u", Key: k, State: "absent", Exclusive: true}, "exclusive goes with state: present"},
		{AuthorizedKey{User: "u", Key: k, Path: "keys"}, "path "},
		{AuthorizedKey{User: "a:b", Key: k}, "user "},
	} {
		err := tc.ak.Validate()
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%+v: Validate() = %v, want %q", tc.ak, err, tc.err)
		}
	}
}
