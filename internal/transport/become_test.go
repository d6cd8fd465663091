package transport_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
)

// The local users these tests log in as and become: names of this
// package's own, as tests of other packages create theirs at the same time.
const (
	loginUser  = "rb-become-tr"  // whose sudo asks for its password
	targetUser = "rb-become-tr2" // whom su asks the password of
)

// becomeHost starts an sshd and logs in to it as a user whose sudo asks
// for its password.
func becomeHost(t *testing.T) (*sshtest.Server, *sshtest.Login, transport.Conn) {
	t.Helper()
	login := sshtest.NewLogin(t, loginUser)
	login.RequireSudoPassword(t)
	s := sshtest.Start(t)
	s.AllowLogin(t, login.User)
	return s, login, dialAs(t, s, login.User)
}

// dialAs makes a new connection to s as user: a connection keeps the
// file server it started as another user for the run.
func dialAs(t *testing.T, s *sshtest.Server, user string) transport.Conn {
	t.Helper()
	pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{s.KnownHosts}}, Timeout: 30 * time.Second}
	t.Cleanup(func() { pool.Close() })
	c, err := pool.Get(context.Background(), transport.Target{Name: "web01", Address: s.Addr, Port: s.Port, User: user, KeyFile: s.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bounded is a context for a call that must end on its own: a hang fails
// the test instead of blocking it.
func bounded(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// rootDir is a directory only root can enter.
func rootDir(t *testing.T) string {
	d := filepath.Join(t.TempDir(), "root-only")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	return d
}

// checkActsAs runs a command, writes, reads and inspects a file in dir,
// and takes a lock, all through as, which must act as user uid.
func checkActsAs(t *testing.T, as transport.Conn, user string, uid int, dir string) {
	t.Helper()
	ctx := bounded(t)
	res, err := as.Run(ctx, "id -un; echo err >&2", nil)
	if err != nil || string(res.Stdout) != user+"\n" || string(res.Stderr) != "err\n" || res.Code != 0 {
		t.Fatalf("Run as %s = %q %q %d, %v", user, res.Stdout, res.Stderr, res.Code, err)
	}
	res, err = as.Run(ctx, "tr a-z A-Z; exit 3", strings.NewReader("piped"))
	if err != nil || string(res.Stdout) != "PIPED" || res.Code != 3 {
		t.Fatalf("Run with stdin as %s = %q %q %d, %v", user, res.Stdout, res.Stderr, res.Code, err)
	}
	p := filepath.Join(dir, "app.conf")
	if err := as.WriteFile(ctx, p, strings.NewReader("content\n"), transport.Attrs(0o640)); err != nil {
		t.Fatalf("WriteFile as %s: %v", user, err)
	}
	st, err := os.Stat(p)
	if err != nil || st.Sys().(*syscall.Stat_t).Uid != uint32(uid) || st.Mode().Perm() != 0o640 {
		t.Fatalf("written as %s: %v %v", user, st, err)
	}
	var buf bytes.Buffer
	if err := as.ReadFile(ctx, p, &buf); err != nil || buf.String() != "content\n" {
		t.Fatalf("ReadFile as %s = %q, %v", user, buf.String(), err)
	}
	if fs, err := as.Inspect(ctx, p, false); err != nil || fs.Size != 8 {
		t.Fatalf("Inspect as %s = %+v, %v", user, fs, err)
	}
	unlock, err := as.(interface {
		Lock(context.Context, string, func()) (func(), error)
	}).Lock(ctx, "test:"+t.Name(), nil)
	if err != nil {
		t.Fatalf("Lock as %s: %v", user, err)
	}
	unlock()
}

func TestBecomeSudoWithPassword(t *testing.T) {
	_, login, c := becomeHost(t)
	as := transport.Become(c, transport.Escalation{Method: "sudo", Password: login.Password, Host: "web01"})
	checkActsAs(t, as, "root", 0, rootDir(t))
}

// A wrong password is a failure of the host, said as such, and comes at
// once: sudo is not left waiting for another try, nor given the command's
// script as one.
func TestBecomeSudoWrongPassword(t *testing.T) {
	_, _, c := becomeHost(t)
	as := transport.Become(c, transport.Escalation{Password: "not-the-password", Host: "web01"})
	want := "become root with sudo on web01: incorrect password"
	ctx := bounded(t)
	if _, err := as.Run(ctx, "echo ran >/dev/null", nil); !errors.Is(err, transport.ErrIncorrectPassword) || err.Error() != want {
		t.Errorf("Run with a wrong password: %v, want %q", err, want)
	}
	err := as.WriteFile(ctx, filepath.Join(rootDir(t), "f"), strings.NewReader("x"), transport.Attrs(0o600))
	if !errors.Is(err, transport.ErrIncorrectPassword) || !strings.Contains(err.Error(), want) {
		t.Errorf("WriteFile with a wrong password: %v, want %q", err, want)
	}
}

// Without a password, sudo that asks for one fails with what to do.
func TestBecomeSudoWithoutPassword(t *testing.T) {
	_, _, c := becomeHost(t)
	as := transport.Become(c, transport.Escalation{Host: "web01"})
	ctx := bounded(t)
	want := "become root with sudo on web01: a password is required: give it with -K (--ask-become-pass) or the become_password variable"
	if _, err := as.Run(ctx, "true", nil); !errors.Is(err, transport.ErrNoPassword) || err.Error() != want {
		t.Errorf("Run without a password: %v\nwant %q", err, want)
	}
	if _, err := as.Run(ctx, "cat", strings.NewReader("x")); !errors.Is(err, transport.ErrNoPassword) {
		t.Errorf("Run with stdin without a password: %v, want %q", err, want)
	}
	err := as.WriteFile(ctx, filepath.Join(rootDir(t), "f"), strings.NewReader("x"), transport.Attrs(0o600))
	if !errors.Is(err, transport.ErrNoPassword) || !strings.Contains(err.Error(), want) {
		t.Errorf("WriteFile without a password: %v\nwant %q", err, want)
	}
}

// su asks for the password of the user it becomes, and reads it from its
// standard input (util-linux su through PAM: no terminal needed).
func TestBecomeSu(t *testing.T) {
	s, login, c := becomeHost(t)
	target := sshtest.NewLogin(t, targetUser)
	uid := lookupUID(t, target.User)
	dir := filepath.Join(target.Home, "conf")
	os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, -1); err != nil {
		t.Fatal(err)
	}
	as := transport.Become(c, transport.Escalation{User: target.User, Method: "su", Password: target.Password, Host: "web01"})
	checkActsAs(t, as, target.User, uid, dir)

	ctx := bounded(t)
	wrong := transport.Become(dialAs(t, s, login.User), transport.Escalation{User: target.User, Method: "su", Password: "wrong", Host: "web01"})
	want := "become " + target.User + " with su on web01: incorrect password"
	if _, err := wrong.Run(ctx, "true", nil); !errors.Is(err, transport.ErrIncorrectPassword) || err.Error() != want {
		t.Errorf("su with a wrong password: %v, want %q", err, want)
	}
	if err := wrong.WriteFile(ctx, filepath.Join(dir, "f"), strings.NewReader("x"), transport.Attrs(0o600)); !errors.Is(err, transport.ErrIncorrectPassword) {
		t.Errorf("su WriteFile with a wrong password: %v, want %q", err, want)
	}
	none := transport.Become(c, transport.Escalation{User: target.User, Method: "su", Host: "web01"})
	if _, err := none.Run(ctx, "true", nil); !errors.Is(err, transport.ErrNoPassword) {
		t.Errorf("su without a password: %v, want %v", err, transport.ErrNoPassword)
	}
}

// doas reads a password from a terminal only: runbook uses it without
// one (a nopass rule), and says so when it asks for one.
func TestBecomeDoas(t *testing.T) {
	_, login, c := becomeHost(t)
	target := sshtest.NewLogin(t, targetUser)
	sshtest.SetDoasRules(t, fmt.Sprintf("permit nopass %s as root\npermit %s as %s\n", login.User, login.User, target.User))
	as := transport.Become(c, transport.Escalation{Method: "doas", Password: login.Password, Host: "web01"})
	checkActsAs(t, as, "root", 0, rootDir(t))

	asks := transport.Become(c, transport.Escalation{User: target.User, Method: "doas", Password: login.Password, Host: "web01"})
	_, err := asks.Run(bounded(t), "true", nil)
	if err == nil || !strings.Contains(err.Error(), "become "+target.User+" with doas on web01: doas asks for a password") || !strings.Contains(err.Error(), "nopass") {
		t.Errorf("doas that asks for a password: %v", err)
	}
	denied := transport.Become(c, transport.Escalation{User: "nobody", Method: "doas", Host: "web01"})
	if _, err := denied.Run(bounded(t), "true", nil); err == nil || !strings.Contains(err.Error(), "become nobody with doas on web01: doas: Operation not permitted") {
		t.Errorf("doas that refuses: %v", err)
	}
}

// The password goes to sudo and su on their standard input: another user
// of the host, reading every process's arguments over and over, never
// sees it, nor does it show in what the commands return.
func TestBecomePasswordNotInArgv(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	_, login, c := becomeHost(t)
	target := sshtest.NewLogin(t, targetUser)
	loot := hostile.Dir(t)
	hostile.Own(t, loot)
	canary := "rb-canary-" + fmt.Sprint(time.Now().UnixNano())
	if err := os.WriteFile(filepath.Join(loot, "patterns"), []byte(login.Password+"\n"+target.Password+"\n"+canary+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostile.Start(t, fmt.Sprintf(`while :; do
  grep -a -o -F -f %[1]s/patterns /proc/[0-9]*/cmdline >>%[1]s/found 2>/dev/null
done`, loot))

	ctx := bounded(t)
	var shown []string
	for _, esc := range []transport.Escalation{
		{Method: "sudo", Password: login.Password},
		{Method: "su", User: target.User, Password: target.Password},
		{Method: "sudo", Password: "wrong-" + login.Password},
	} {
		as := transport.Become(c, esc)
		for range 3 {
			res, err := as.Run(ctx, "sleep 0.3; sh -c 'sleep 0.3' "+canary, nil)
			shown = append(shown, string(res.Stdout), string(res.Stderr), fmt.Sprint(err))
			err = as.WriteFile(ctx, filepath.Join(os.TempDir(), "rb-become-"+canary), strings.NewReader("x"), transport.Attrs(0o600))
			shown = append(shown, fmt.Sprint(err))
		}
	}
	os.Remove(filepath.Join(os.TempDir(), "rb-become-"+canary))
	found, _ := os.ReadFile(filepath.Join(loot, "found"))
	if !strings.Contains(string(found), canary) {
		t.Fatal("the watcher never saw the canary in argv: it does not see the commands")
	}
	for _, pw := range []string{login.Password, target.Password} {
		if strings.Contains(string(found), pw) {
			t.Errorf("another local user read a become password in processes' arguments:\n%s", found)
		}
		for _, s := range shown {
			if strings.Contains(s, pw) {
				t.Errorf("a become password is in what a command returned: %q", s)
			}
		}
	}
}

func lookupUID(t *testing.T, name string) int {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		t.Fatal(err)
	}
	return uid
}

// On the controller, su as root asks for no password: the exchange finds
// the marker without a prompt.
func TestBecomeLocalSu(t *testing.T) {
	target := sshtest.NewLogin(t, targetUser)
	uid := lookupUID(t, target.User)
	dir := filepath.Join(target.Home, "local")
	os.RemoveAll(dir)
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, -1); err != nil {
		t.Fatal(err)
	}
	as := transport.Become(transport.Local{}, transport.Escalation{User: target.User, Method: "su", Password: "unused", Host: "local"})
	checkActsAs(t, as, target.User, uid, dir)
}

// A sudo whose prompt runbook does not know (a PAM module's own) is
// stopped, not waited on for ever.
func TestBecomeUnknownPromptIsBounded(t *testing.T) {
	bin := t.TempDir()
	fake := "#!/bin/sh\nprintf 'Verification code: ' >&2\nexec sleep 600\n"
	if err := os.WriteFile(filepath.Join(bin, "sudo"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+":"+os.Getenv("PATH"))
	transport.SetBecomeWait(t, time.Second)
	as := transport.Become(transport.Local{}, transport.Escalation{User: "nobody", Password: "pw-unknown-prompt", Host: "local"})
	_, err := as.Run(bounded(t), "true", nil)
	want := "become nobody with sudo on local: sudo neither asked for a password as runbook knows nor ran the command within 1s; it said: Verification code:"
	if err == nil || err.Error() != want {
		t.Errorf("Run = %v\nwant %s", err, want)
	}
}
