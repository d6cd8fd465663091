// Package hostfile inspects, reads and plans files on a host for the task
// modules that manage files: what a path holds (Stat, Read), how it
// differs from what is wanted (Diff), and the change that makes it so
// (Plan), written without ever following a path another user can swap.
package hostfile

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	pathpkg "path"
	"strconv"
	"strings"
	"sync"

	"github.com/aymanbagabas/go-udiff"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"gopkg.in/yaml.v3"
)

// Mode is a file's permission bits, written in octal: 0644, "0644" or "644".
type Mode uint32

// UnmarshalYAML reads the digits as octal whatever YAML made of them, since
// 644 meant as decimal is never what anybody wants.
func (m *Mode) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("mode: want octal permissions such as 0644, got a %s", map[yaml.Kind]string{yaml.SequenceNode: "list", yaml.MappingNode: "mapping"}[n.Kind])
	}
	s := strings.TrimPrefix(strings.TrimPrefix(n.Value, "0o"), "0")
	if s == "" {
		s = "0"
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return fmt.Errorf("mode: want octal permissions such as 0644, got %s", decode.Quote(n.Value))
	}
	*m = Mode(v)
	return nil
}

// Attrs is FileAttrs for a file of mode perm owned by the writer.
func Attrs(perm Mode) tasks.FileAttrs {
	return tasks.FileAttrs{Mode: perm.FileMode(), UID: -1, GID: -1, Size: -1}
}

func (m Mode) String() string { return fmt.Sprintf("%04o", uint32(m)) }

// Info is what Stat found at a path.
type Info struct {
	Exists    bool
	Type      string // "file", "directory", "symlink", or stat's word for others
	Mode      Mode
	Owner     string
	UID       string
	Group     string
	GID       string
	Size      int64
	SHA256    string // for regular files, when asked
	ParentDir bool   // the parent directory exists
	// ParentTrusted says the parent directory is root's and writable by
	// nobody else: no other user can swap the path for a symlink, so it
	// may be changed in place by name.
	ParentTrusted bool
}

// trusted tells a directory that only root can change (see ParentTrusted).
func trusted(uid, perm uint32) bool { return uid == 0 && perm&0o022 == 0 }

// OwnedBy reports whether the file's owner is user, by name or number.
func (f *Info) OwnedBy(user string) bool { return user == f.Owner || user == f.UID }

// InGroup reports whether the file's group is group, by name or number.
func (f *Info) InGroup(group string) bool { return group == f.Group || group == f.GID }

// OwnerName is the owner's name when it was asked for, else its uid.
func (f *Info) OwnerName() string { return cmp.Or(f.Owner, f.UID) }

// GroupName is the group's name when it was asked for, else its gid.
func (f *Info) GroupName() string { return cmp.Or(f.Group, f.GID) }

// Want says what Stat must find out beyond type, mode, owner and group ids
// and size.
type Want uint8

const (
	WantHash  Want = 1 << iota // the SHA-256 of a regular file
	WantNames                  // the owner's and group's names
)

// WantNamesFor is WantNames when owner or group is given as a name rather
// than a number: comparing then needs the file's owner's name.
func WantNamesFor(owner, group string) Want {
	for _, s := range []string{owner, group} {
		if _, err := strconv.ParseUint(s, 10, 32); s != "" && err != nil {
			return WantNames
		}
	}
	return 0
}

// Stat inspects path in one round trip: type, mode, ownership, size and,
// for a regular file when asked, its SHA-256. A symlink is reported as
// such, not followed.
//
// Every process started on a host costs, across a fleet, more than the
// round trip itself. So where the connection can look at files without a
// command (Conn.Inspect: SFTP), that is how it is done, and a
// command runs only for the hash, all at once.
func Stat(ctx context.Context, c tasks.Conn, path string, want Want) (*Info, error) {
	if want&WantNames == 0 {
		fi, _, err := inspect(ctx, c, path, want&WantHash != 0, 0)
		if !errors.Is(err, tasks.ErrNotSupported) {
			return fi, err
		}
	}
	// Shell builtins where they do, for the same reason.
	script := fmt.Sprintf(`p=%s
%s
if [ -e "$p" ] || [ -L "$p" ]; then
  %s || exit 1
  if [ %t = true ] && [ -f "$p" ] && [ ! -L "$p" ]; then sha256sum <"$p"; fi
fi`, tasks.Quote(path), parentScript, statLine, want&WantHash != 0)
	res, err := c.Run(ctx, script, nil)
	if err != nil {
		return nil, fmt.Errorf("inspect %s: %w", path, err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("inspect %s: %s", path, res.Failure())
	}
	return parseStat(path, string(res.Stdout))
}

// parentScript prints the parent directory of $p, when it exists, as
// parent|UID|MODE.
const parentScript = `d=${p%/*}
if [ -d "${d:-/}" ]; then LC_ALL=C stat -L -c 'parent|%u|%a' -- "${d:-/}" || echo parent; fi`

// statLine prints what $p is, as parseStat reads it:
// stat|TYPE|MODE|OWNER|UID|GROUP|GID|SIZE (the size last: Read compares it).
const statLine = `LC_ALL=C stat -c 'stat|%F|%a|%U|%u|%G|%g|%s' -- "$p"`

func parseStat(path, out string) (*Info, error) {
	fi := &Info{}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case line == "parent" || strings.HasPrefix(line, "parent|"):
			f := strings.Split(line, "|")
			uid, err1 := strconv.ParseUint(f[1], 10, 32)
			perm, err2 := strconv.ParseUint(f[len(f)-1], 8, 32)
			fi.ParentDir = true
			fi.ParentTrusted = len(f) == 3 && err1 == nil && err2 == nil && trusted(uint32(uid), uint32(perm))
		case strings.HasPrefix(line, "stat|"):
			f := strings.Split(line, "|")
			if len(f) != 8 {
				return nil, fmt.Errorf("inspect %s: unexpected stat output %q", path, line)
			}
			mode, _ := strconv.ParseUint(f[2], 8, 32)
			size, _ := strconv.ParseInt(f[7], 10, 64)
			fi.Exists, fi.Type, fi.Mode = true, fileType(f[1]), Mode(mode)
			fi.Owner, fi.UID, fi.Group, fi.GID, fi.Size = f[3], f[4], f[5], f[6], size
		case isSHA256Line(line):
			fi.SHA256 = line[:64]
		}
	}
	return fi, nil
}

func fileType(s string) string {
	switch s {
	case "regular file", "regular empty file":
		return "file"
	case "symbolic link":
		return "symlink"
	}
	return s
}

// maxDiff bounds the content that is shown as a diff.
const maxDiff = 256 << 10

// Diff is a unified diff from the content of path on the host
// (described by fi) to want. Binary content, or content too large to show,
// gets a one-line note instead; the host's file is read only when shown.
func Diff(ctx context.Context, c tasks.Conn, path string, fi *Info, want []byte) (string, error) {
	var old []byte
	oldSize := int64(0)
	if fi.Exists {
		oldSize = fi.Size
	}
	if oldSize > maxDiff || len(want) > maxDiff {
		return fmt.Sprintf("--- %s\n+++ %s\n(content too large to show: %d -> %d bytes)\n", path, path, oldSize, len(want)), nil
	}
	if oldSize > 0 {
		// Read as line reads it: bounded, never through a symlink.
		now, data, err := Read(ctx, c, path, maxDiff)
		if err != nil {
			return "", fmt.Errorf("read %s for diff: %w", path, err)
		}
		if !now.Exists || now.Type != "file" {
			return fmt.Sprintf("--- %s\n+++ %s\n(it changed since it was inspected: now %s)\n", path, path, cmp.Or(now.Type, "missing")), nil
		}
		old = data
	}
	if bytes.IndexByte(old, 0) >= 0 || bytes.IndexByte(want, 0) >= 0 {
		return fmt.Sprintf("--- %s\n+++ %s\n(binary content: %d -> %d bytes)\n", path, path, len(old), len(want)), nil
	}
	return udiff.Unified(path+" (host)", path+" (wanted)", string(old), string(want)), nil
}

// Perm is the mode as file permission bits.
func (m Mode) Perm() fs.FileMode { return fs.FileMode(m) & fs.ModePerm }

// FileMode is the mode as Go has it, with setuid, setgid and sticky.
func (m Mode) FileMode() fs.FileMode {
	fm := m.Perm()
	for bit, flag := range map[Mode]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
		if m&bit != 0 {
			fm |= flag
		}
	}
	return fm
}

// inspect is Stat through an Inspector. The path, its parent directory
// and, when asked, the file's hash or content (at most limit bytes, and one
// more to tell a larger file) are looked at concurrently: one round trip.
func inspect(ctx context.Context, c tasks.Conn, p string, hash bool, limit int64) (*Info, []byte, error) {
	var (
		wg            sync.WaitGroup
		st            tasks.FileStat
		stErr         error
		parent        bool
		parentTrusted bool
		res           tasks.Result
		runErr        error
		read          = limit > 0
		command       string
	)
	switch {
	case read:
		command = fmt.Sprintf(`p=%s
if [ -f "$p" ] && [ ! -L "$p" ]; then
%s
fi`, tasks.Quote(p), readScript(limit+1))
	case hash:
		command = fmt.Sprintf(`p=%s
if [ -f "$p" ] && [ ! -L "$p" ]; then exec sha256sum <"$p"; fi`, tasks.Quote(p))
	}
	wg.Go(func() { st, stErr = c.Inspect(ctx, p, false) })
	wg.Go(func() {
		d, err := c.Inspect(ctx, pathpkg.Dir(p), true)
		parent = err == nil && d.Type == "directory"
		parentTrusted = parent && trusted(d.UID, d.Perm)
	})
	if command != "" {
		wg.Go(func() { res, runErr = c.Run(ctx, command, nil) })
	}
	wg.Wait()
	fi := &Info{ParentDir: parent, ParentTrusted: parentTrusted}
	switch {
	case errors.Is(stErr, fs.ErrNotExist):
		return fi, nil, nil
	case stErr != nil:
		return nil, nil, stErr
	case runErr != nil:
		return nil, nil, fmt.Errorf("inspect %s: %w", p, runErr)
	case !res.OK():
		return nil, nil, fmt.Errorf("inspect %s: %s", p, res.Failure())
	}
	fi.Exists, fi.Type, fi.Mode, fi.Size = true, st.Type, Mode(st.Perm), st.Size
	fi.UID, fi.GID = strconv.FormatUint(uint64(st.UID), 10), strconv.FormatUint(uint64(st.GID), 10)
	if fi.Type != "file" {
		return fi, nil, nil
	}
	out := string(res.Stdout)
	if read {
		if len(res.Stdout) == 0 {
			return nil, nil, fmt.Errorf("inspect %s: it changed while being inspected; run again", p)
		}
		data, err := readOutput(p, fi, res.Stdout, limit)
		return fi, data, err
	}
	switch {
	case hash && isSHA256Line(strings.TrimSpace(out)):
		fi.SHA256 = out[:64]
	case hash:
		// Replaced by something else between the two looks.
		return nil, nil, fmt.Errorf("inspect %s: it changed while being inspected; run again", p)
	}
	return fi, nil, nil
}

// Read inspects path and, when it is a regular file, reads it, all
// in one round trip. Files larger than limit are refused.
func Read(ctx context.Context, c tasks.Conn, path string, limit int64) (*Info, []byte, error) {
	fi, data, err := inspect(ctx, c, path, false, max(limit, 1))
	if !errors.Is(err, tasks.ErrNotSupported) {
		return fi, data, err
	}
	script := fmt.Sprintf(`p=%s
%s
if [ -e "$p" ] || [ -L "$p" ]; then
  s=$(%s) || exit 1
  echo "$s"
  if [ -f "$p" ] && [ ! -L "$p" ]; then
    if [ "${s##*|}" -le %d ]; then
      echo content
%s
    fi
  fi
fi`, tasks.Quote(path), parentScript, statLine, limit, readScript(limit+1))
	res, err := c.Run(ctx, script, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", path, err)
	}
	if !res.OK() {
		return nil, nil, fmt.Errorf("read %s: %s", path, res.Failure())
	}
	head, body, hasBody := bytes.Cut(res.Stdout, []byte("\ncontent\n"))
	if fi, err = parseStat(path, string(head)); err != nil {
		return nil, nil, err
	}
	if fi.Exists && fi.Type == "file" && !hasBody {
		return nil, nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	if !hasBody {
		return fi, nil, nil
	}
	data, err = readOutput(path, fi, body, limit)
	return fi, data, err
}

// readScript prints "rbread", then at most limit bytes of the regular
// file $p, never through a symlink another user put there meanwhile:
// where only root can change $p's directory, by name; elsewhere through a
// descriptor opened with O_NOFOLLOW, by perl, which then prints the
// owner, mode and size of what it read ("rbread|UID|GID|MODE|SIZE"): what
// was read and what it is must come from one look, or a user could have
// root read another file and write it back as the user's.
func readScript(limit int64) string {
	return fmt.Sprintf(`case $(LC_ALL=C stat -L -c '%%u %%a' -- "${p%%/*}/" 2>/dev/null) in
"0 "*[0145][0145]) echo rbread; exec head -c %[1]d -- "$p" ;;
esac
command -v perl >/dev/null 2>&1 || { echo "perl is needed to read $p safely: its directory is writable by another user than root" >&2; exit 1; }
exec perl -e %[2]s -- "$p" %[1]d`, limit, tasks.Quote(readPerl))
}

const readPerl = `use Fcntl;
my ($p, $n) = @ARGV;
sysopen(my $fh, $p, O_RDONLY|O_NOFOLLOW|O_NONBLOCK) or die "open $p: $!\n";
my @st = stat($fh) or die "stat $p: $!\n";
-f _ or die "$p was replaced by something else: run again\n";
$st[3] == 1 or die "$p has other hard links: refusing to read it in a directory another user can write\n";
printf "rbread|%d|%d|%o|%d\n", $st[4], $st[5], $st[2] & 07777, $st[7];
binmode STDOUT;
my $buf;
while ($n > 0) {
  my $r = sysread($fh, $buf, $n > 65536 ? 65536 : $n);
  defined $r or die "read $p: $!\n";
  last if !$r;
  print $buf;
  $n -= $r;
}`

// readOutput takes what readScript printed: the content, and the file's
// owner, mode and size where it told them (they replace those of fi).
func readOutput(p string, fi *Info, out []byte, limit int64) ([]byte, error) {
	head, data, ok := bytes.Cut(out, []byte("\n"))
	if !ok || !bytes.HasPrefix(head, []byte("rbread")) {
		return nil, fmt.Errorf("read %s: unexpected answer from the host", p)
	}
	if f := strings.Split(string(head), "|"); len(f) == 5 {
		mode, err1 := strconv.ParseUint(f[3], 8, 32)
		size, err2 := strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("read %s: unexpected answer from the host %q", p, head)
		}
		fi.Exists, fi.Type, fi.UID, fi.GID, fi.Mode, fi.Size = true, "file", f[1], f[2], Mode(mode), size
		fi.Owner, fi.Group = "", ""
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", p, limit)
	}
	sum := sha256.Sum256(data)
	fi.SHA256 = hex.EncodeToString(sum[:])
	return data, nil
}

// isSHA256Line tells sha256sum's output: 64 hex digits, then the name
// ("-": the file is given on stdin, so that no odd name gets its line
// escaped).
func isSHA256Line(line string) bool {
	if len(line) < 64 || len(line) > 64 && line[64] != ' ' {
		return false
	}
	for _, r := range line[:64] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
