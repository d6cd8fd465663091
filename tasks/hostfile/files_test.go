package hostfile_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

// commandsOnly is a connection that cannot inspect files, so that Stat
// and Read take the path they take on a host without SFTP.
type commandsOnly struct{ transport.Conn }

func (commandsOnly) Inspect(context.Context, string, bool) (transport.FileStat, error) {
	return transport.FileStat{}, tasks.ErrNotSupported
}

// Looking at files through SFTP (or the controller's kernel) and through
// commands must see the same thing.
func TestStatWaysAgree(t *testing.T) {
	remote := rootConn(t)
	dir := t.TempDir()
	write := func(name, content string, mode fs.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask, with setuid
			t.Fatal(err)
		}
		return p
	}
	file := write("file", "hello\n", 0o640)
	setuid := write("setuid", "", 0o755|fs.ModeSetuid)
	big := write("big", strings.Repeat("x", 100), 0o644)
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o750)
	link := filepath.Join(dir, "link")
	os.Symlink(file, link)
	paths := []string{file, setuid, big, sub, link, filepath.Join(dir, "missing"), filepath.Join(dir, "nodir", "x"), filepath.Join(file, "x"), "/"}

	ctx := context.Background()
	for _, conn := range []struct {
		name string
		c    transport.Conn
	}{{"ssh", remote}, {"local", transport.Local{}}} {
		if _, err := conn.c.Inspect(ctx, "/", false); err != nil {
			t.Fatalf("%s connection cannot inspect files: %v", conn.name, err)
		}
		for _, p := range paths {
			fast, err1 := hostfile.Stat(ctx, conn.c, p, hostfile.WantHash)
			slow, err2 := hostfile.Stat(ctx, commandsOnly{conn.c}, p, hostfile.WantHash)
			if err1 != nil || err2 != nil {
				t.Errorf("%s: Stat(%s): %v / %v", conn.name, p, err1, err2)
				continue
			}
			slow.Owner, slow.Group = "", "" // names are only asked for with WantNames
			if p == setuid && fast.Mode != 0o4755 {
				t.Errorf("%s: %s has mode %s, want 4755", conn.name, p, fast.Mode)
			}
			if *fast != *slow {
				t.Errorf("%s: Stat(%s):\n inspected %+v\n commands  %+v", conn.name, p, *fast, *slow)
			}

			fi1, data1, err1 := hostfile.Read(ctx, conn.c, p, 50)
			fi2, data2, err2 := hostfile.Read(ctx, commandsOnly{conn.c}, p, 50)
			if (err1 == nil) != (err2 == nil) || string(data1) != string(data2) {
				t.Errorf("%s: Read(%s) = %q, %v / %q, %v", conn.name, p, data1, err1, data2, err2)
				continue
			}
			if err1 == nil {
				fi2.Owner, fi2.Group = "", ""
				if *fi1 != *fi2 {
					t.Errorf("%s: Read(%s):\n inspected %+v\n commands  %+v", conn.name, p, *fi1, *fi2)
				}
			}
		}
	}
}

// A host without an SFTP subsystem is managed all the same: runbook
// starts OpenSSH's sftp-server itself.
func TestStatWithoutSFTP(t *testing.T) {
	c := rootConn(t, sshtest.WithoutSFTP)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	fi, err := hostfile.Stat(ctx, c, p, hostfile.WantHash)
	if err != nil || !fi.Exists || fi.Mode != 0o600 || fi.SHA256 == "" {
		t.Fatalf("Stat = %+v, %v", fi, err)
	}
	_, data, err := hostfile.Read(ctx, c, p, 100)
	if err != nil || string(data) != "x\n" {
		t.Fatalf("Read = %q, %v", data, err)
	}
	if err := c.WriteFile(ctx, p, strings.NewReader("y"), transport.Attrs(0o600)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); string(got) != "y" {
		t.Fatalf("file = %q after WriteFile", got)
	}
}

// A name with a backslash or a newline makes sha256sum escape its output
// line; the hash must still be read, or the file is rewritten every run.
func TestStatHashOfOddNames(t *testing.T) {
	remote := rootConn(t)
	dir := t.TempDir()
	for _, name := range []string{`back\slash`, "new\nline"} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, c := range []transport.Conn{remote, commandsOnly{remote}} {
			fi, err := hostfile.Stat(context.Background(), c, p, hostfile.WantHash)
			if err != nil || fi.SHA256 != sha256hex("x\n") {
				t.Errorf("%q (%T): Stat = %+v, %v", name, c, fi, err)
			}
		}
	}
}

func sha256hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
