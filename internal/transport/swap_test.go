package transport_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/tasks"
)

// A user who owns a directory above the destination can swap what is
// below it for a symlink while root writes there: the write lands where
// the user points it, as root. Such a write is refused before anything
// is written, naming the directory and who can change it.
func TestWriteRefusesADirectoryAnotherUserCanSwap(t *testing.T) {
	hostile, c, base := hostileHost(t)
	home := filepath.Join(base, "home") // the user's
	conf := filepath.Join(home, "conf") // root's, in the user's
	vault := filepath.Join(base, "vault")
	for _, d := range []string{home, conf, vault} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hostile.Own(t, home)
	if err := os.Chmod(vault, 0o700); err != nil {
		t.Fatal(err)
	}
	// The attacker swaps conf for a link to root's vault and back, as fast
	// as it can.
	hostile.Start(t, fmt.Sprintf(`cd %s || exit 1
while :; do mv conf conf.real && ln -s %s conf; rm -f conf; mv conf.real conf; done`, home, vault))
	refused := 0
	for i := range 200 {
		err := c.WriteFile(context.Background(), filepath.Join(conf, "settings"), strings.NewReader(fmt.Sprint("write ", i)), transport.Attrs(0o644))
		if err == nil {
			t.Errorf("write %d through a directory the user can swap went through", i)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "is not safe to write through") || !strings.Contains(msg, home) || !strings.Contains(msg, "uid "+strconv.Itoa(hostile.UID)) {
			if !strings.Contains(msg, "file does not exist") { // conf was away: fine, but not what is tested
				t.Errorf("write %d: %v", i, err)
			}
			continue
		}
		refused++
	}
	if refused == 0 {
		t.Error("no write was refused for the directory the user owns")
	}
	if entries, _ := os.ReadDir(vault); len(entries) > 0 {
		t.Errorf("root's vault, where the user pointed the write, holds %d files", len(entries))
	}
}

// What stays writable, and what else is refused: the way may go through
// sticky directories (to entries of root's) and root's links, and end in
// any directory (whoever may write the file's own directory can replace
// the file anyway, not point the write elsewhere); it may not go through
// a directory its group, an ACL or another user may write, nor climb with
// "..". A writer that is the user may go through the user's own tree.
func TestWriteIntoDirectoriesNobodyElseCanSwap(t *testing.T) {
	hostile, c, base := hostileHost(t)
	mkdir := func(name string, mode os.FileMode, uid, gid int) string {
		t.Helper()
		d := filepath.Join(base, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(d, uid, gid); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, mode); err != nil {
			t.Fatal(err)
		}
		return d
	}
	service := mkdir("service", 0o750, hostile.UID, hostile.GID) // like /etc/consul.d, consul's
	mkdir("service/tokens", 0o700, 0, 0)
	mkdir("tmp", os.ModeSticky|0o777, 0, 0)
	mkdir("tmp/root", 0o755, 0, 0)
	mkdir("tmp/user", 0o755, hostile.UID, hostile.GID)
	mkdir("rootgroup/sub", 0o755, 0, 0)
	mkdir("rootgroup", 0o775, 0, 0)
	mkdir("othergroup/sub", 0o755, 0, 0)
	mkdir("othergroup", 0o775, 0, hostile.GID)
	mkdir("acl/sub", 0o755, 0, 0)
	setACL(t, mkdir("acl", 0o755, 0, 0), hostile.UID) // shows as 0775 root:root
	mkdir("etc", 0o755, 0, 0)
	mkdir("home/.config", 0o755, hostile.UID, hostile.GID)
	mkdir("home", 0o755, hostile.UID, hostile.GID)
	for link, to := range map[string]string{"linked": "etc", "loop": "loop", "up": "tmp/user/.."} {
		if err := os.Symlink(to, filepath.Join(base, link)); err != nil {
			t.Fatal(err)
		}
	}
	at := func(p string) string { return filepath.Join(base, p) }

	owned := transport.Attrs(0o600)
	owned.UID, owned.GID = hostile.UID, hostile.GID
	as := transport.Become(c, transport.Escalation{User: hostile.User})
	for _, w := range []struct {
		c     transport.Conn
		path  string
		attrs transport.FileAttrs
		want  string // what the refusal says; "" when written
	}{
		{c, filepath.Join(service, "service.conf"), owned, ""},
		{c, filepath.Join(service, "root.conf"), transport.Attrs(0o600), ""},
		{c, at("service/tokens/t"), transport.Attrs(0o600), "it is uid " + strconv.Itoa(hostile.UID) + "'s"},
		{c, at("tmp/f"), transport.Attrs(0o644), ""},
		{c, at("tmp/root/f"), transport.Attrs(0o644), ""},
		{c, at("tmp/user/f"), transport.Attrs(0o644), "in sticky"},
		{c, at("rootgroup/f"), transport.Attrs(0o644), ""},
		{c, at("rootgroup/sub/f"), transport.Attrs(0o644), "its group (or an ACL) may write it"},
		{c, at("othergroup/sub/f"), transport.Attrs(0o644), "its group (or an ACL) may write it"},
		{c, at("acl/sub/f"), transport.Attrs(0o644), "its group (or an ACL) may write it"},
		{c, at("linked/g"), transport.Attrs(0o644), ""},
		{c, at("loop/g"), transport.Attrs(0o644), "too many levels of symbolic links"},
		{c, at("up/root/g"), transport.Attrs(0o644), "in sticky"}, // the link's ".." is walked, not cleaned away
		{c, at("home/.config/f"), owned, "it is uid " + strconv.Itoa(hostile.UID) + "'s"},
		{c, base + "/home/.config/../x", transport.Attrs(0o644), "not an absolute path without .."},
		{c, "relative/f", transport.Attrs(0o644), "not an absolute path without .."},
		{as, at("home/.config/f"), transport.Attrs(0o644), ""},
		{as, at("home/f"), transport.Attrs(0o644), ""},
		{transport.Local{}, at("home/.config/local"), owned, "it is uid " + strconv.Itoa(hostile.UID) + "'s"},
		{transport.Local{}, at("etc/local"), transport.Attrs(0o644), ""},
	} {
		err := w.c.WriteFile(context.Background(), w.path, strings.NewReader("x"), w.attrs)
		switch {
		case w.want == "" && err != nil:
			t.Errorf("%s: %v", w.path, err)
		case w.want != "" && err == nil:
			t.Errorf("%s: written, want refused (%s)", w.path, w.want)
		case w.want != "" && !strings.Contains(err.Error(), w.want):
			t.Errorf("%s: %v, want %q", w.path, err, w.want)
		}
	}
}

// CheckWrite answers as WriteFile would refuse, writing nothing; a way
// that ends in a directory not made yet (by an earlier step, in check
// mode) passes as far as it goes, which WriteFile does not.
func TestCheckWriteAnswersAsWriteFile(t *testing.T) {
	hostile, c, base := hostileHost(t)
	home := filepath.Join(base, "home")
	if err := os.MkdirAll(filepath.Join(home, "conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	hostile.Own(t, home)
	ctx := context.Background()
	for _, conn := range []transport.Conn{c, transport.Local{}} {
		if err := conn.CheckWrite(ctx, filepath.Join(home, "conf", "f")); !errors.Is(err, tasks.ErrUnsafeWay) {
			t.Errorf("%T: through the user's directory: %v, want ErrUnsafeWay", conn, err)
		}
		missing := filepath.Join(base, "not", "yet", "f")
		if err := conn.CheckWrite(ctx, missing); err != nil {
			t.Errorf("%T: a way not made yet: %v", conn, err)
		}
		if err := conn.WriteFile(ctx, missing, strings.NewReader("x"), transport.Attrs(0o644)); err == nil {
			t.Errorf("%T: written where the way is missing", conn)
		}
	}
	if entries, _ := os.ReadDir(filepath.Join(home, "conf")); len(entries) > 0 {
		t.Errorf("CheckWrite wrote %d files", len(entries))
	}
}

// hostileHost is a connection to a new sshd as root, the hostile user, and
// a directory every user can reach, root's, for the test to lay out.
func hostileHost(t *testing.T) (*sshtest.Hostile, transport.Conn, string) {
	t.Helper()
	hostile := sshtest.NewHostile(t)
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	return hostile, c, hostile.Dir(t)
}

// setACL gives uid rwx on dir with a POSIX access ACL (as setfacl -m
// u:UID:rwx would, which is not installed everywhere): its group bits
// then show the ACL's mask.
func setACL(t *testing.T, dir string, uid int) {
	t.Helper()
	const version, undefined = 2, 0xffffffff
	var acl []byte
	add := func(tag, perm uint16, id uint32) {
		acl = binary.LittleEndian.AppendUint16(acl, tag)
		acl = binary.LittleEndian.AppendUint16(acl, perm)
		acl = binary.LittleEndian.AppendUint32(acl, id)
	}
	acl = binary.LittleEndian.AppendUint32(acl, version)
	add(0x01, 7, undefined)   // user::rwx
	add(0x02, 7, uint32(uid)) // user:UID:rwx
	add(0x04, 5, undefined)   // group::r-x
	add(0x10, 7, undefined)   // mask::rwx
	add(0x20, 5, undefined)   // other::r-x
	if err := syscall.Setxattr(dir, "system.posix_acl_access", acl, 0); err != nil {
		t.Fatalf("set an ACL on %s: %v", dir, err)
	}
}
