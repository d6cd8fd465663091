package sshconfig_test

import (
	"os"
	osuser "os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/sshconfig"
)

func write(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLookup(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "bastions.conf", `
Host bast1
  HostName 10.0.0.1
  User jump
`)
	main := write(t, dir, "config", `
Include `+filepath.Join(dir, "*.conf")+`

Host web01 web02
  HostName %h.example.com
  Port 2222
  IdentityFile ~/.ssh/web_%r
  IdentityFile /keys/%h-%p

Host web*
  User deploy
  Port 22
  ProxyJump jump@bast1:2200,bast2
  IdentityFile /keys/fleet
  UserKnownHostsFile /kh/one "/kh/with space"
  StrictHostKeyChecking accept-new

Host db01
  ProxyJump none

Host *
  ProxyJump bast1
  User fallback
`)
	cfg, err := sshconfig.Files(main)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		alias string
		want  sshconfig.Host
	}{
		{"web01", sshconfig.Host{
			HostName: "web01.example.com", User: "deploy", Port: 2222,
			IdentityFiles:   []string{"~/.ssh/web_%r", "/keys/%h-%p", "/keys/fleet"},
			KnownHostsFiles: []string{"/kh/one", "/kh/with space"},
			ProxyJump:       "jump@bast1:2200,bast2", StrictHostKeyChecking: "accept-new", From: main,
		}},
		{"db01", sshconfig.Host{User: "fallback", ProxyJump: "none", From: main}},
		{"bast1", sshconfig.Host{HostName: "10.0.0.1", User: "jump", ProxyJump: "bast1", From: main}},
		{"other", sshconfig.Host{User: "fallback", ProxyJump: "bast1", From: main}},
	} {
		got, err := cfg.Lookup(tc.alias)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("Lookup(%s) (-want +got):\n%s", tc.alias, d)
		}
	}
}

func TestFilesInOrder(t *testing.T) {
	dir := t.TempDir()
	user := write(t, dir, "user", "Host a\n  User first\n")
	system := write(t, dir, "system", "Host *\n  User second\n  Port 2200\n")
	cfg, err := sshconfig.Files(user, system)
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.Lookup("a")
	if err != nil {
		t.Fatal(err)
	}
	want := sshconfig.Host{User: "first", Port: 2200, From: user + ", " + system}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	var none *sshconfig.Config
	if h, err := none.Lookup("a"); err != nil || h.User != "" {
		t.Errorf("nil Config: %+v, %v", h, err)
	}
}

func TestMalformed(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, text, want string
	}{
		{"novalue", "Host a\n  HostName\n", "novalue:2:3: HostName has no value"},
		{"port", "Host a\n  Port twenty\n", `port:2:3: Port: want a port between 1 and 65535, got "twenty"`},
		{"bigport", "Host a\n  Port=70000\n", `bigport:2:3: Port: want a port between 1 and 65535`},
		{"strict", "Host a\n  StrictHostKeyChecking maybe\n", `strict:2:3: StrictHostKeyChecking: want yes, accept-new, no or ask, got "maybe"`},
		{"jump", "Host a\n ProxyJump b,,c\n", `jump:2:2: ProxyJump: ProxyJump "b,,c": an empty hop`},
		{"quote", "Host a\n  IdentityFile \"/a b\n", `quote:2:3: IdentityFile: unbalanced quote`},
		{"token", "Host a\n  IdentityFile /k/%z\n", `token:2:3: IdentityFile: "/k/%z": token %z is not one runbook expands`},
		{"equals", "Host a\n= b\n", "equals:2:1: a line starts with '='"},
		{"match", "Host a\n  User x\nMatch exec \"true\"\n", `match:3:7: Match Exec is not supported (runbook reads Host, Match host and Match all blocks)`},
		{"nohost", "Host\n", "nohost:1:1: Host has no value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, dir, tc.name, tc.text)
			_, err := sshconfig.Files(p)
			if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, tc.want)) {
				t.Errorf("got %v, want it to hold %s", err, filepath.Join(dir, tc.want))
			}
		})
	}
}

// An error in an included file names that file, not the one that
// includes it.
func TestMalformedInclude(t *testing.T) {
	dir := t.TempDir()
	bad := write(t, dir, "bad.conf", "Host x\n  User ok\n  Port abc\n")
	main := write(t, dir, "config", "Host *\n  Include "+bad+"\n")
	_, err := sshconfig.Files(main)
	if err == nil || !strings.HasPrefix(err.Error(), bad+":3:3: Port: ") {
		t.Errorf("got %v, want an error at %s:3:3", err, bad)
	}
	matchErr := write(t, dir, "match.conf", "Match originalhost y\n")
	main2 := write(t, dir, "config2", "Include "+matchErr+"\n")
	_, err = sshconfig.Files(main2)
	if err == nil || !strings.HasPrefix(err.Error(), matchErr+":1:") {
		t.Errorf("got %v, want an error in %s", err, matchErr)
	}
	loop := filepath.Join(dir, "loop.conf")
	write(t, dir, "loop.conf", "Include "+loop+"\n")
	_, err = sshconfig.Files(loop)
	if err == nil || !strings.Contains(err.Error(), "does a file include itself?") {
		t.Errorf("got %v, want an Include loop refused", err)
	}
	if _, err := sshconfig.Files(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing file: got %v", err)
	}
}

func TestParseJumps(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []sshconfig.Jump
		err  string
	}{
		{in: "bast", want: []sshconfig.Jump{{Host: "bast"}}},
		{in: "u@bast:2222, b2", want: []sshconfig.Jump{{User: "u", Host: "bast", Port: 2222}, {Host: "b2"}}},
		{in: "ssh://root@10.0.0.1:22", want: []sshconfig.Jump{{User: "root", Host: "10.0.0.1", Port: 22}}},
		{in: "[::1]:2200", want: []sshconfig.Jump{{Host: "::1", Port: 2200}}},
		{in: "u@[fe80::1]", want: []sshconfig.Jump{{User: "u", Host: "fe80::1"}}},
		{in: "none"},
		{in: "a:0", err: "between 1 and 65535"},
		{in: "@a", err: "no user before @"},
		{in: "a b", err: "write [user@]host[:port]"},
		{in: ""},
		{in: "a,", err: "an empty hop"},
	} {
		got, err := sshconfig.ParseJumps(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("ParseJumps(%q): got %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseJumps(%q): %v", tc.in, err)
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("ParseJumps(%q) (-want +got):\n%s", tc.in, d)
		}
	}
}

func TestFromArgs(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		found    bool
		err      string
	}{
		{in: "-o ProxyJump=admin@bast:2222", want: "admin@bast:2222", found: true},
		{in: `-o StrictHostKeyChecking=no -o "ProxyJump b1,b2"`, want: "b1,b2", found: true},
		{in: "-J bast", want: "bast", found: true},
		{in: "-oProxyJump=none", want: "none", found: true},
		{in: `-o ProxyCommand="ssh -W %h:%p -q admin@bast.example.com"`, want: "admin@bast.example.com", found: true},
		{in: `-o ProxyCommand="ssh -p 2222 -l admin -W [%h]:%p bast"`, want: "admin@bast:2222", found: true},
		{in: "-o ServerAliveInterval=30"},
		{in: `-o ProxyCommand="nc -X connect -x proxy:3128 %h %p"`, err: "runbook runs no command to connect"},
		{in: `-o ProxyCommand="ssh -i key -W %h:%p bast"`, err: "runbook runs no command to connect"},
		{in: "-J", err: "-J with no value"},
		{in: "-o ProxyJump=a,,b", err: "an empty hop"},
	} {
		got, found, err := sshconfig.FromArgs(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("FromArgs(%q): got %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want || found != tc.found {
			t.Errorf("FromArgs(%q) = %q, %v, %v; want %q, %v", tc.in, got, found, err, tc.want, tc.found)
		}
	}
}

func TestExpand(t *testing.T) {
	t.Setenv("RB_KEYS", "/env/keys")
	home := sshconfig.HomeDir()
	tk := sshconfig.Tokens{Alias: "web", Host: "10.0.0.5", Port: 2222, User: "deploy"}
	for _, tc := range []struct{ in, want, err string }{
		{in: "~/.ssh/id_%r", want: home + "/.ssh/id_deploy"},
		{in: "%d/k/%n-%h-%p", want: home + "/k/web-10.0.0.5-2222"},
		{in: "${RB_KEYS}/%%h", want: "/env/keys/%h"},
		{in: "/k/%u", want: "/k/" + currentUser(t)},
		{in: "/k/%z", err: "token %z"},
		{in: "/k/%", err: "lone %"},
		{in: "${RB_UNSET_VAR}/k", err: "RB_UNSET_VAR is not set"},
	} {
		got, err := sshconfig.Expand(tc.in, tk)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Expand(%q): got %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Expand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func currentUser(t *testing.T) string {
	u, err := osuser.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}
