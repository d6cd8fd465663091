package hostfile

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/runbookdev/runbook/tasks"
)

// Content is what a file should hold: bytes in memory, or a file on the
// controller that is hashed and uploaded by streaming, never held whole.
type Content struct {
	data  []byte
	local string // path on the controller
	sum   string
	size  int64
}

// Bytes is content held in memory.
func Bytes(b []byte) *Content {
	sum := sha256.Sum256(b)
	return &Content{data: b, sum: hex.EncodeToString(sum[:]), size: int64(len(b))}
}

// LocalFile is the content of a file on the controller. It is hashed by
// streaming it, once per run for as long as the file does not change, however
// many hosts it goes to.
func LocalFile(p string) (*Content, error) {
	st, err := os.Stat(p)
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", p)
	}
	key := fmt.Sprintf("%s|%d|%d", p, st.Size(), st.ModTime().UnixNano())
	if sum, ok := hashes.Load(key); ok {
		return &Content{local: p, sum: sum.(string), size: st.Size()}, nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return nil, fmt.Errorf("hash %s: %w", p, err)
	}
	sum := hex.EncodeToString(h.Sum(nil))
	hashes.Store(key, sum)
	return &Content{local: p, sum: sum, size: n}, nil
}

// hashes caches the SHA-256 of controller files by path, size and mtime.
var hashes sync.Map

// SHA256 is the content's hash, in hex.
func (c *Content) SHA256() string { return c.sum }

// Size is the content's length in bytes.
func (c *Content) Size() int64 { return c.size }

func (c *Content) open() (io.ReadCloser, error) {
	if c.local != "" {
		f, err := os.Open(c.local)
		if err != nil {
			return nil, err
		}
		return &verified{File: f, hash: sha256.New(), want: c.sum}, nil
	}
	return io.NopCloser(bytes.NewReader(c.data)), nil
}

// verified reads a controller file and fails at its end when it is not
// what was hashed: the content written must be the content that was
// compared with the host's (and validated), not what an editor or a
// build left in the file meanwhile. The writer then removes its
// temporary file, leaving the host's alone.
type verified struct {
	*os.File
	hash hash.Hash
	want string
}

func (v *verified) Read(p []byte) (int, error) {
	n, err := v.File.Read(p)
	v.hash.Write(p[:n])
	if err == io.EOF && hex.EncodeToString(v.hash.Sum(nil)) != v.want {
		return n, fmt.Errorf("%s changed since it was compared with the host's file: run again", v.Name())
	}
	return n, err
}

// WriteTo hides the file's own, which would read past Read.
func (v *verified) WriteTo(w io.Writer) (int64, error) {
	return io.Copy(w, struct{ io.Reader }{v})
}

// small returns the content for a diff, or nil when it is too large.
func (c *Content) small() ([]byte, error) {
	if c.size > maxDiff {
		return nil, nil
	}
	if c.local == "" {
		return c.data, nil
	}
	return os.ReadFile(c.local)
}

// Spec is a regular file as it should be.
type Spec struct {
	Path    string
	Content *Content // nil: leave an existing file's content alone, create an empty one
	Mode    *Mode    // nil: leave alone; 0644 for a new file
	Owner   string   // "": leave alone
	Group   string
	// Validate is a command that judges new content before it replaces
	// the file, %s the path of a private copy (see CheckValidate): when
	// it fails the file is left as it was.
	Validate string
	// Backup keeps the file that new content replaces beside it, as
	// PATH.<time>~, with its mode and owner.
	Backup bool
}

// Plan compares the file at spec.Path with spec and returns the change
// that makes it so: one command to inspect; the old content is read only
// for a diff the user asked for. The new content replaces the old
// atomically, and ownership and mode are set in one more command.
func Plan(ctx context.Context, h *tasks.Host, spec Spec) (*tasks.Change, error) {
	want := WantNamesFor(spec.Owner, spec.Group)
	if spec.Content != nil {
		want |= WantHash
	}
	fi, err := Stat(ctx, h.Conn, path.Clean(spec.Path), want)
	if err != nil {
		return nil, err
	}
	return PlanAt(ctx, h, spec, fi)
}

// PlanAt is Plan for a module that has inspected the file already
// (fi must carry its SHA-256 when spec has content).
func PlanAt(ctx context.Context, h *tasks.Host, spec Spec, fi *Info) (*tasks.Change, error) {
	p := path.Clean(spec.Path)
	var err error
	if fi.Exists && fi.Type != "file" {
		return nil, tasks.DependsOnEarlier(fmt.Errorf("%s is a %s, not a regular file: remove it first (file with state: absent)", p, fi.Type))
	}
	if !fi.ParentDir {
		return nil, tasks.DependsOnEarlier(fmt.Errorf("directory %s does not exist: create it first (file with state: directory)", path.Dir(p)))
	}
	c := &tasks.Change{}
	mode := fi.Mode
	if spec.Mode != nil {
		mode = *spec.Mode
	} else if !fi.Exists {
		mode = 0o644
	}
	write := !fi.Exists
	content := spec.Content
	if content == nil {
		content = Bytes(nil)
		if !fi.Exists {
			c.Summary = append(c.Summary, fmt.Sprintf("+ create empty %s (%s)", p, mode))
		}
	} else {
		switch {
		case !fi.Exists:
			c.Summary = append(c.Summary, fmt.Sprintf("+ create %s (%d bytes, %s)", p, content.Size(), mode))
		case fi.SHA256 != content.SHA256():
			c.Summary = append(c.Summary, fmt.Sprintf("~ content %s: sha256 %.12s -> %.12s (%d -> %d bytes)", p, fi.SHA256, content.SHA256(), fi.Size, content.Size()))
			write = true
		}
		if write && h.Diff {
			if c.Diff, err = contentDiff(ctx, h.Conn, p, fi, content); err != nil {
				return nil, err
			}
		}
	}
	owner, group := Ownership(c, p, fi, spec.Owner, spec.Group)
	if fi.Exists && mode != fi.Mode {
		c.Summary = append(c.Summary, fmt.Sprintf("~ mode %s -> %s", fi.Mode, mode))
	}
	if write {
		// A way another user can change is refused by the write: said
		// now, unless an earlier step of the run may still change it.
		if err := h.Conn.CheckWrite(ctx, p); err != nil {
			if errors.Is(err, tasks.ErrUnsafeWay) {
				return nil, tasks.DependsOnEarlier(err)
			}
			return nil, err
		}
		keep := spec.Backup && fi.Exists
		line := len(c.Summary) // the backup's, which only applying can name
		if keep {
			c.Summary = append(c.Summary, fmt.Sprintf("+ back up the old %s as %s.<time>~", p, p))
		}
		c.Apply = func(ctx context.Context) (tasks.Done, error) {
			// The new content is a new file: it keeps the old one's owner
			// and group unless told otherwise.
			uid, gid, err := ids(ctx, h.Conn, cmp.Or(owner, fi.UID), cmp.Or(group, fi.GID))
			if err != nil {
				return tasks.Done{}, err
			}
			if spec.Validate != "" {
				if err := validate(ctx, h.Conn, p, content, spec.Validate); err != nil {
					var v *ValidationError
					if errors.As(err, &v) {
						return tasks.Done{Result: map[string]any{"rc": v.Result.Code, "stdout": string(v.Result.Stdout), "stderr": string(v.Result.Stderr)}}, err
					}
					return tasks.Done{}, err
				}
			}
			var done tasks.Done
			if keep {
				b, err := backup(ctx, h.Conn, p, time.Now())
				if err != nil {
					return tasks.Done{}, err
				}
				done.Summary = slices.Clone(c.Summary)
				done.Summary[line] = fmt.Sprintf("+ back up the old %s as %s", p, b)
				done.Result = map[string]any{"backup_file": b}
			}
			r, err := content.open()
			if err != nil {
				return done, err
			}
			defer r.Close()
			attrs := tasks.FileAttrs{Mode: mode.FileMode(), UID: uid, GID: gid, Size: content.Size()}
			return done, h.Conn.WriteFile(ctx, p, r, attrs)
		}
		return c, nil
	}
	var newMode *Mode
	// chown clears setuid and setgid: a change of owner sets the mode again.
	if mode != fi.Mode || (owner != "" || group != "") && mode&0o6000 != 0 {
		newMode = &mode
	}
	if cmd := AttrsCommand(p, fi, owner, group, newMode); cmd != "" {
		c.Apply = func(ctx context.Context) (tasks.Done, error) {
			return tasks.Done{}, tasks.RunOK(ctx, h.Conn, cmd)
		}
	}
	return c, nil
}

// Ownership says in c how the owner and group of the file at p change,
// and returns those that do ("" for none).
func Ownership(c *tasks.Change, p string, fi *Info, owner, group string) (string, string) {
	if owner != "" && fi.Exists && fi.OwnedBy(owner) {
		owner = ""
	}
	if group != "" && fi.Exists && fi.InGroup(group) {
		group = ""
	}
	if fi.Exists && owner != "" {
		c.Summary = append(c.Summary, fmt.Sprintf("~ owner %s -> %s", fi.OwnerName(), owner))
	}
	if fi.Exists && group != "" {
		c.Summary = append(c.Summary, fmt.Sprintf("~ group %s -> %s", fi.GroupName(), group))
	}
	return owner, group
}

// AttrsCommand is the command that gives the existing file or directory at
// p (as fi describes it) the owner, group and mode given ("" and nil:
// leave alone), or "" when there is nothing to do. It never follows a
// symlink at p, whatever another user puts there meanwhile:
//
//   - where nobody but root can change p's directory (fi.ParentTrusted),
//     nobody can put one there: chown -h and chmod by name;
//   - elsewhere (a service's own directory), p is opened with O_NOFOLLOW
//     and changed through the descriptor (fchown, fchmod), by perl, which
//     every Debian and Ubuntu host has (perl-base is essential).
func AttrsCommand(p string, fi *Info, owner, group string, mode *Mode) string {
	if owner == "" && group == "" && mode == nil {
		return ""
	}
	if fi.ParentTrusted {
		var cmds []string
		if owner != "" || group != "" {
			spec := owner
			if group != "" {
				spec += ":" + group
			}
			cmds = append(cmds, "chown -h -- "+tasks.Quote(spec)+" "+tasks.Quote(p))
		}
		// chown clears setuid and setgid: the mode comes after it. The
		// extra leading 0 clears a directory's setgid too (GNU chmod keeps
		// it for 0755).
		if mode != nil {
			cmds = append(cmds, fmt.Sprintf("chmod -- 0%s %s", *mode, tasks.Quote(p)))
		}
		return strings.Join(cmds, " && ")
	}
	m := ""
	if mode != nil {
		m = mode.String()
	}
	dir := "0"
	if fi.Type == "directory" {
		dir = "1"
	}
	// What is changed must still be what was looked at: a regular file
	// with one link, of the owner seen (another user could have put their
	// own file there, or a hard link to somebody else's).
	return fmt.Sprintf("command -v perl >/dev/null || { echo %s >&2; exit 1; }\nexec perl -e %s -- %s %s %s %s %s %s",
		tasks.Quote("perl is needed to change the owner or mode of "+p+" safely: its directory is writable by another user than root"),
		tasks.Quote(attrsPerl), tasks.Quote(p), dir, tasks.Quote(m), tasks.Quote(owner), tasks.Quote(group), tasks.Quote(fi.UID))
}

// attrsPerl changes a file through a descriptor opened without following
// a symlink (nor blocking on a FIFO put in its place).
const attrsPerl = `use Fcntl;
my ($p, $dir, $mode, $u, $g, $was) = @ARGV;
sysopen(my $fh, $p, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|($dir ? O_DIRECTORY : 0)) or die "open $p: $!\n";
my @st = stat($fh) or die "stat $p: $!\n";
($dir ? -d _ : -f _) or die "$p was replaced by something else: run again\n";
$dir or $st[3] == 1 or die "$p has other hard links: refusing to change it in a directory another user can write\n";
$was eq "" or $st[4] == $was or die "$p was replaced by another user's: run again\n";
if ($u ne "" || $g ne "") {
  my $uid = $u eq "" ? -1 : $u =~ /\A\d+\z/ ? $u : (getpwnam($u))[2];
  defined $uid or die "no user $u on this host\n";
  my $gid = $g eq "" ? -1 : $g =~ /\A\d+\z/ ? $g : (getgrnam($g))[2];
  defined $gid or die "no group $g on this host\n";
  chown($uid, $gid, $fh) or die "chown $p: $!\n";
}
if ($mode ne "") { chmod(oct($mode), $fh) or die "chmod $p: $!\n"; }`

// ids resolves an owner and a group, by name or number ("": leave the
// writer's), to numbers: one command when either is a name.
func ids(ctx context.Context, c tasks.Conn, owner, group string) (int, int, error) {
	uid, uerr := strconv.Atoi(cmp.Or(owner, "-1"))
	gid, gerr := strconv.Atoi(cmp.Or(group, "-1"))
	if uerr == nil && gerr == nil {
		return uid, gid, nil
	}
	script := fmt.Sprintf(`u=%s g=%s
if [ -n "$u" ]; then id -u -- "$u" || exit 1; else echo -1; fi
if [ -n "$g" ]; then getent group "$g" | cut -d: -f3 | grep . || { echo "no group $g on this host" >&2; exit 1; }; else echo -1; fi`,
		tasks.Quote(map[bool]string{true: "", false: owner}[uerr == nil]), tasks.Quote(map[bool]string{true: "", false: group}[gerr == nil]))
	res, err := c.Run(ctx, script, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("look up owner %q and group %q: %w", owner, group, err)
	}
	if !res.OK() {
		return 0, 0, fmt.Errorf("look up owner %q and group %q: %s", owner, group, res.Failure())
	}
	f := strings.Fields(string(res.Stdout))
	if len(f) != 2 {
		return 0, 0, fmt.Errorf("look up owner %q and group %q: unexpected answer %q", owner, group, res.Stdout)
	}
	if uerr != nil {
		if uid, uerr = strconv.Atoi(f[0]); uerr != nil {
			return 0, 0, fmt.Errorf("look up owner %q: unexpected answer %q", owner, f[0])
		}
	}
	if gerr != nil {
		if gid, gerr = strconv.Atoi(f[1]); gerr != nil {
			return 0, 0, fmt.Errorf("look up group %q: unexpected answer %q", group, f[1])
		}
	}
	return uid, gid, nil
}

func contentDiff(ctx context.Context, c tasks.Conn, p string, fi *Info, want *Content) (string, error) {
	small, err := want.small()
	if err != nil {
		return "", err
	}
	if small == nil {
		return fmt.Sprintf("--- %s\n+++ %s\n(content too large to show: %d -> %d bytes)\n", p, p, fi.Size, want.Size()), nil
	}
	return Diff(ctx, c, p, fi, small)
}

// PlanMakingDir is PlanAt for a file whose directory may be missing (fi
// from Stat says so): the change makes the directory (0755, as root
// makes /etc's) before it writes the file, and says so first.
func PlanMakingDir(ctx context.Context, h *tasks.Host, spec Spec, fi *Info) (*tasks.Change, error) {
	if fi.ParentDir {
		return PlanAt(ctx, h, spec, fi)
	}
	dir := path.Dir(path.Clean(spec.Path))
	c, err := PlanAt(ctx, h, spec, &Info{ParentDir: true})
	if err != nil {
		return nil, err
	}
	c.Summary = append([]string{"+ directory " + dir}, c.Summary...)
	write := c.Apply
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		if err := tasks.RunOK(ctx, h.Conn, "mkdir -p -m 0755 -- "+tasks.Quote(dir)); err != nil {
			return tasks.Done{}, err
		}
		return write(ctx)
	}
	return c, nil
}
