package transport_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
)

// A user who owns a directory above the destination can swap what is
// below it for a symlink while root writes there: the write lands where
// the user points it, as root. Such a write is refused before anything
// is written, naming the directory and who can change it.
func TestWriteRefusesADirectoryAnotherUserCanSwap(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	base := hostile.Dir(t)
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
		if !strings.Contains(msg, "is swappable") || !strings.Contains(msg, home) || !strings.Contains(msg, "uid "+strconv.Itoa(hostile.UID)) {
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

// What stays writable: a directory of the file's own owner under root's,
// a sticky one like /tmp, one that only root's group may write, and, for
// a writer that is the user, the user's own tree.
func TestWriteIntoDirectoriesNobodyElseCanSwap(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	s := sshtest.Start(t)
	_, c, err := dial(t, s, &transport.HostKeys{Files: []string{s.KnownHosts}})
	if err != nil {
		t.Fatal(err)
	}
	base := hostile.Dir(t)
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
	sticky := mkdir("tmp", os.ModeSticky|0o777, 0, 0)
	rootGroup := mkdir("rootgroup", 0o775, 0, 0)
	otherGroup := mkdir("othergroup", 0o775, 0, hostile.GID)
	home := mkdir("home", 0o755, hostile.UID, hostile.GID)
	own := mkdir("home/.config", 0o755, hostile.UID, hostile.GID)
	linked := filepath.Join(base, "linked") // root's link to root's directory
	if err := os.Symlink("rootgroup", linked); err != nil {
		t.Fatal(err)
	}

	owned := transport.Attrs(0o600)
	owned.UID, owned.GID = hostile.UID, hostile.GID
	as := transport.Become(c, transport.Escalation{User: hostile.User})
	for _, w := range []struct {
		c     transport.Conn
		path  string
		attrs transport.FileAttrs
		ok    string // "" when refused
	}{
		{c, filepath.Join(service, "service.conf"), owned, "a file of the directory's owner"},
		{c, filepath.Join(service, "root.conf"), transport.Attrs(0o600), ""},
		{c, filepath.Join(sticky, "f"), transport.Attrs(0o644), "sticky"},
		{c, filepath.Join(rootGroup, "f"), transport.Attrs(0o644), "group root"},
		{c, filepath.Join(linked, "g"), transport.Attrs(0o644), "through root's link"},
		{c, filepath.Join(otherGroup, "f"), transport.Attrs(0o644), ""},
		{c, filepath.Join(own, "f"), owned, ""}, // its parent, home, is the user's
		{as, filepath.Join(own, "f"), transport.Attrs(0o644), "the user's own tree, written as the user"},
		{as, filepath.Join(home, "f"), transport.Attrs(0o644), "the user's own home, written as the user"},
		{transport.Local{}, filepath.Join(own, "local"), owned, ""}, // on the controller too
		{transport.Local{}, filepath.Join(service, "local"), owned, "on the controller, a file of the directory's owner"},
	} {
		err := w.c.WriteFile(context.Background(), w.path, strings.NewReader("x"), w.attrs)
		switch {
		case w.ok != "" && err != nil:
			t.Errorf("%s (%s): %v", w.path, w.ok, err)
		case w.ok == "" && err == nil:
			t.Errorf("%s: written, want refused", w.path)
		case w.ok == "" && !strings.Contains(err.Error(), "is swappable"):
			t.Errorf("%s: %v, want it refused as swappable", w.path, err)
		}
	}
}
