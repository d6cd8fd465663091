// Package stat is the `stat` task: what a path is on the host, registered
// for later steps to decide on. It changes nothing.
package stat

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "stat",
		Doc: "Reads what a path is on the host and registers it (use `register:`); it changes nothing, so it runs in check mode as in a real run and always reports ok. " +
			"Registers path and exists (a missing path is exists: false, not an error), and for a path that exists: type (file, directory, link or other), " +
			"mode (octal, e.g. \"0644\"), uid, gid, owner and group (names; empty when the id has none), size (bytes), mtime (Unix seconds), " +
			"link_target (when the path is a symbolic link, followed or not) and sha256 (with checksum, for a regular file). " +
			"In check mode it reads the host as it is, before what earlier steps would change.",
		New: func() tasks.Task { return new(Stat) },
	})
}

// Stat is the `stat` task's parameters.
type Stat struct {
	Path     string `yaml:"path" required:"true" doc:"absolute path on the host"`
	Follow   bool   `yaml:"follow" doc:"describe what a symbolic link points to instead of the link (a link to nothing is then exists: false); default false"`
	Checksum bool   `yaml:"checksum" doc:"register sha256, the SHA-256 of a regular file's content (read on the host; needs perl there, as every Debian and Ubuntu host has); default false"`
}

// Validate checks the parameters.
func (s *Stat) Validate() error {
	if !path.IsAbs(s.Path) {
		return fmt.Errorf("path %s must be absolute", decode.Quote(s.Path))
	}
	return nil
}

// Check reads the path in one command and registers what it found.
func (s *Stat) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	res, err := h.Conn.Run(ctx, s.script(), nil)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", s.Path, err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("stat %s: %s", s.Path, res.Failure())
	}
	data, err := parse(s.Path, string(res.Stdout))
	if err != nil {
		return nil, err
	}
	return &tasks.Change{Result: data}, nil
}

// script prints "missing", or the stat block (see statFormat), then, when
// asked for a regular file, what hashPerl prints, then, when the path is a
// symbolic link, "link" and its target: last, so that a target with
// newlines in it is read whole.
func (s *Stat) script() string {
	return fmt.Sprintf(`p=%s
f=
if [ %t = true ]; then
  [ -e "$p" ] || { echo missing; exit 0; }
  f=-L
else
  [ -e "$p" ] || [ -L "$p" ] || { echo missing; exit 0; }
fi
LC_ALL=C stat $f -c %s -- "$p" || exit 1
if [ %t = true ] && [ -f "$p" ] && { [ -n "$f" ] || [ ! -L "$p" ]; }; then
  command -v perl >/dev/null 2>&1 || { echo "perl is needed to read the checksum of $p" >&2; exit 1; }
  perl -e %s -- "$p" "$f" || exit 1
fi
if [ -L "$p" ]; then echo link; readlink -- "$p" || exit 1; fi`,
		tasks.Quote(s.Path), s.Follow, tasks.Quote(statFormat), s.Checksum, tasks.Quote(hashPerl))
}

// statFormat prints one field a line: names cannot hold a newline, and
// the path is never printed.
const statFormat = "stat\n%F\n%a\n%U\n%u\n%G\n%g\n%s\n%Y\n%d\n%i"

// statLines is how many lines statFormat prints.
const statLines = 11

// hashPerl opens the file (never through a final symlink put there
// meanwhile, unless told to follow) and prints what it opened,
// "read|DEV|INO|UID|GID|MODE|SIZE|MTIME", then hashes that same
// descriptor: the hash is of the file described, whatever another user
// swaps in at the path.
const hashPerl = `use Fcntl;
my ($p, $follow) = @ARGV;
sysopen(my $fh, $p, O_RDONLY|O_NONBLOCK|($follow ? 0 : O_NOFOLLOW)) or die "open $p: $!\n";
my @st = stat($fh) or die "stat $p: $!\n";
-f _ or die "$p was replaced by something else: run again\n";
$| = 1;
printf "read|%d|%d|%d|%d|%o|%d|%d\n", @st[0, 1, 4, 5], $st[2] & 07777, @st[7, 9];
open(STDIN, "<&", $fh) or die "read $p: $!\n";
exec("sha256sum") or die "sha256sum: $!\n";`

// parse reads what script printed.
func parse(p, out string) (map[string]any, error) {
	if out == "missing\n" {
		return map[string]any{"exists": false, "path": p}, nil
	}
	bad := func(what string) error { return fmt.Errorf("stat %s: unexpected answer from the host %q", p, what) }
	lines := strings.SplitN(out, "\n", statLines+1)
	if len(lines) <= statLines || lines[0] != "stat" {
		return nil, bad(out)
	}
	f, rest := lines[1:statLines], lines[statLines]
	mode, err1 := strconv.ParseUint(f[1], 8, 32)
	n, err2 := ints(f[3], f[5], f[6], f[7], f[8], f[9])
	if err1 != nil || err2 != nil {
		return nil, bad(out)
	}
	uid, gid, size, mtime, dev, ino := n[0], n[1], n[2], n[3], n[4], n[5]
	data := map[string]any{"exists": true, "path": p, "type": fileType(f[0]), "owner": name(f[2]), "group": name(f[4])}
	if head, body, ok := strings.Cut(rest, "\n"); ok && strings.HasPrefix(head, "read|") {
		r := strings.Split(head, "|")
		if len(r) != 8 {
			return nil, bad(head)
		}
		v, err1 := ints(r[1], r[2], r[3], r[4], r[6], r[7])
		perm, err2 := strconv.ParseUint(r[5], 8, 32)
		if err1 != nil || err2 != nil {
			return nil, bad(head)
		}
		// What perl read is a regular file: the path stat described must
		// be one too (a device and inode number alone can be reused by
		// the next file made while the path is being swapped).
		if data["type"] != "file" || v[0] != dev || v[1] != ino || v[2] != uid || v[3] != gid {
			return nil, fmt.Errorf("stat %s: it was replaced while being read: run again", p)
		}
		// The hash is of the file as perl opened it: its mode, size and
		// time are those.
		mode, size, mtime = perm, v[4], v[5]
		sum, after, _ := strings.Cut(body, "\n")
		if !isSHA256Line(sum) {
			return nil, fmt.Errorf("stat %s: unexpected checksum from the host %q", p, sum)
		}
		data["sha256"] = sum[:64]
		rest = after
	}
	if target, ok := strings.CutPrefix(rest, "link\n"); ok {
		data["link_target"] = strings.TrimSuffix(target, "\n")
	} else if rest != "" {
		return nil, bad(rest)
	}
	data["mode"] = fmt.Sprintf("%04o", mode)
	data["uid"], data["gid"], data["size"], data["mtime"] = int(uid), int(gid), size, mtime
	return data, nil
}

// ints parses decimal numbers.
func ints(s ...string) ([]int64, error) {
	out := make([]int64, len(s))
	for i, v := range s {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, err
		}
		out[i] = n
	}
	return out, nil
}

func fileType(s string) string {
	switch s {
	case "regular file", "regular empty file":
		return "file"
	case "directory":
		return "directory"
	case "symbolic link":
		return "link"
	}
	return "other"
}

// name is stat's user or group name, "" where the id has none.
func name(s string) string {
	if s == "UNKNOWN" {
		return ""
	}
	return s
}

// isSHA256Line tells sha256sum's answer for its stdin: 64 hex digits, then
// "  -".
func isSHA256Line(line string) bool {
	if len(line) != 67 || line[64:] != "  -" {
		return false
	}
	for _, r := range line[:64] {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}
