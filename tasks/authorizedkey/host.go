package authorizedkey

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/tasks"
)

// The user owns the home directory, so they can swap ~/.ssh for a
// symbolic link to any directory between any look runbook takes and the
// write that follows: root writing there by name would write where the
// link points (a file of the user's in /etc/apt/apt.conf.d is a root
// shell). So whatever lies in a directory that another user than root
// can change is read and written as the user, with the user's rights
// alone, as sshd reads it: the user can then only get runbook to do what
// they could do themselves. Only a directory that root alone can change,
// up to /, is read and written as root, through the connection's safe
// write.

// node is what the host said of one path.
type node struct {
	exists  bool
	typ     string // stat's %F: "directory", "regular file", "symbolic link", ...
	uid     int
	gid     int
	perm    fs.FileMode
	trusted bool // root alone can change or replace it (see trusted in readScript)
}

// state is what read found.
type state struct {
	user       string
	uid, gid   int
	home       string
	dir, file  string
	manageDir  bool // the default ~/.ssh: created when missing
	h, d, f    node
	dirExists  bool
	fileExists bool
	content    string
}

// trusted, in readScript, tells a path that root alone can change or
// replace: it is root's and writable by nobody else, and so is every
// directory above it, or that directory is sticky (/tmp), where nobody
// else can replace what root owns.
//
// readScript prints what read parses: the user from the passwd database,
// then a line for each of home, dir and file that exists, then "content"
// and the file's content when it may be read.
const readScript = `u=$1 p=$2 max=$3
command -v getent >/dev/null 2>&1 || { echo "getent is needed to find the home directory of $u" >&2; exit 1; }
pw=$(getent passwd -- "$u") || { echo nouser; exit 0; }
uid=$(printf %s "$pw" | cut -d: -f3) gid=$(printf %s "$pw" | cut -d: -f4) h=$(printf %s "$pw" | cut -d: -f6)
printf 'user|%s|%s|%s\n' "$uid" "$gid" "$h"
case $h in /*) ;; *) exit 0 ;; esac
p=${p:-$h/.ssh/authorized_keys}
d=${p%/*} d=${d:-/}
trusted() {
  case $(LC_ALL=C stat -c '%u %a' -- "$1" 2>/dev/null) in "0 "*[0145][0145]) ;; *) return 1 ;; esac
  x=$1
  while [ "$x" != / ]; do
    x=${x%/*} x=${x:-/}
    case $(LC_ALL=C stat -c '%u %a' -- "$x" 2>/dev/null) in "0 "*[0145][0145] | "0 "[1357]???) ;; *) return 1 ;; esac
  done
}
look() {
  if [ -e "$2" ] || [ -L "$2" ]; then
    s=$(LC_ALL=C stat -c '%u|%g|%a|%F' -- "$2") || exit 1
    t=0; trusted "$2" && t=1
    printf '%s|%s|%s\n' "$1" "$t" "$s"
  fi
}
look home "$h"
look dir "$d"
look file "$p"
if [ -d "$d" ] && [ ! -L "$d" ] && [ -f "$p" ] && [ ! -L "$p" ]; then
  fu=$(LC_ALL=C stat -c %u -- "$p") || exit 1
  if trusted "$d"; then
    if [ "$fu" = "$uid" ] || [ "$fu" = 0 ]; then echo content; exec head -c "$max" -- "$p"; fi
  elif [ "$fu" = "$uid" ]; then
    echo content
    if [ "$(id -u)" = "$uid" ]; then exec head -c "$max" -- "$p"; fi
    command -v setpriv >/dev/null 2>&1 || { echo "setpriv (util-linux) is needed to read $p as $u" >&2; exit 1; }
    exec setpriv --reuid="$uid" --regid="$gid" --init-groups -- head -c "$max" -- "$p"
  fi
fi`

// read finds the user's authorized_keys and reads it: one command.
func read(ctx context.Context, c tasks.Conn, user, file string) (*state, error) {
	res, err := c.Run(ctx, script(readScript, user, file, strconv.Itoa(maxSize+1)), nil)
	if err != nil {
		return nil, fmt.Errorf("read the authorized keys of %s: %w", user, err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("read the authorized keys of %s: %s", user, res.Failure())
	}
	head, content, hasContent := strings.Cut(string(res.Stdout), "content\n")
	lines := strings.Split(strings.TrimSuffix(head, "\n"), "\n")
	if lines[0] == "nouser" {
		return nil, tasks.DependsOnEarlier(fmt.Errorf("user %s does not exist on the host: create it first (task: user)", user))
	}
	bad := fmt.Errorf("read the authorized keys of %s: unexpected answer from the host %q", user, head)
	f := strings.SplitN(lines[0], "|", 4)
	if len(f) != 4 || f[0] != "user" {
		return nil, bad
	}
	st := &state{user: user, home: f[3], file: file}
	var err1, err2 error
	st.uid, err1 = strconv.Atoi(f[1])
	st.gid, err2 = strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return nil, bad
	}
	if !path.IsAbs(st.home) {
		return nil, fmt.Errorf("user %s has home directory %q in the passwd database, not an absolute path: give path", user, st.home)
	}
	if st.file == "" {
		st.file, st.manageDir = st.home+"/.ssh/authorized_keys", true
	}
	st.dir = path.Dir(st.file)
	for _, l := range lines[1:] {
		f := strings.SplitN(l, "|", 6)
		if len(f) != 6 {
			return nil, bad
		}
		uid, err1 := strconv.Atoi(f[2])
		gid, err2 := strconv.Atoi(f[3])
		perm, err3 := strconv.ParseUint(f[4], 8, 32)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, bad
		}
		n := node{exists: true, typ: f[5], uid: uid, gid: gid, perm: fs.FileMode(perm) & fs.ModePerm, trusted: f[1] == "1"}
		switch f[0] {
		case "home":
			st.h = n
		case "dir":
			st.d = n
		case "file":
			st.f = n
		default:
			return nil, bad
		}
	}
	st.dirExists, st.fileExists = st.d.exists, st.f.exists
	if hasContent {
		if len(content) > maxSize {
			return nil, fmt.Errorf("%s is larger than %d bytes", st.file, maxSize)
		}
		st.content = content
	} else if st.fileExists && st.usable() == nil {
		return nil, fmt.Errorf("read %s: the host did not send its content", st.file)
	}
	return st, nil
}

// usable says why the file cannot be managed, or nil.
func (st *state) usable() error {
	strict := func(p string, n node) error {
		switch {
		case n.typ == "symbolic link":
			return fmt.Errorf("%s is a symbolic link: refusing to follow it (another user could point it anywhere; sshd's StrictModes would not use it either): replace it with a real %s", p, map[bool]string{true: "directory", false: "file"}[p == st.dir])
		case n.uid == 0 && !n.trusted:
			return fmt.Errorf("%s belongs to root, in a directory another user can change: refusing to manage it: give it to %s (chown)", p, st.user)
		case n.uid != st.uid && n.uid != 0:
			return fmt.Errorf("%s belongs to uid %d, not to %s (uid %d): refusing to manage it (sshd's StrictModes would not use it either)", p, n.uid, st.user, st.uid)
		}
		return nil
	}
	switch {
	case !st.dirExists && !st.manageDir:
		return tasks.DependsOnEarlier(fmt.Errorf("directory %s does not exist: create it first (file with state: directory)", st.dir))
	case !st.dirExists && !st.h.exists:
		return tasks.DependsOnEarlier(fmt.Errorf("home directory %s of %s does not exist: create it first", st.home, st.user))
	case !st.dirExists && st.h.typ != "directory":
		return fmt.Errorf("home directory %s of %s is a %s, not a directory", st.home, st.user, st.h.typ)
	case !st.dirExists:
		if st.h.uid != st.uid && !st.h.trusted {
			return fmt.Errorf("home directory %s of %s belongs to uid %d, and root alone cannot create %s in it safely: give it to %s (chown)", st.home, st.user, st.h.uid, st.dir, st.user)
		}
	case st.d.typ != "directory" && st.d.typ != "symbolic link":
		return fmt.Errorf("%s is a %s, not a directory", st.dir, st.d.typ)
	default:
		if err := strict(st.dir, st.d); err != nil {
			return err
		}
	}
	if !st.fileExists {
		return nil
	}
	if st.f.typ != "regular file" && st.f.typ != "regular empty file" && st.f.typ != "symbolic link" {
		return fmt.Errorf("%s is a %s, not a regular file", st.file, st.f.typ)
	}
	return strict(st.file, st.f)
}

// writeScript replaces the file with stdin, as whoever runs it: a new
// file beside it, given its mode, renamed over it. Run as the user, it
// can do nothing the user could not. Input that ends early (a lost
// connection) is not all of the content: the size is checked before the
// rename.
const writeScript = `d=$1 p=$2 mode=$3 mk=$4 size=$5
umask 077
if [ "$mk" = 1 ]; then mkdir -m 0700 -- "$d" || exit 1; fi
{ [ -d "$d" ] && [ ! -L "$d" ]; } || { echo "$d is not a directory" >&2; exit 1; }
if [ -L "$p" ] || { [ -e "$p" ] && [ ! -f "$p" ]; }; then echo "$p is not a regular file" >&2; exit 1; fi
t=$(mktemp "$d/.runbook-XXXXXXXXXX") || exit 1
trap 'rm -f -- "$t"' EXIT
cat >"$t" || exit 1
n=$(wc -c <"$t") || exit 1
[ "$n" -eq "$size" ] || { echo "got $n bytes of the $size sent" >&2; exit 1; }
chmod "$mode" -- "$t" && mv -f -- "$t" "$p"`

// asUser runs a script given as $1, with the rest as its arguments, as
// the user $U (uid) and $G (gid).
const asUser = `s=$1; shift
if [ "$(id -u)" = "$U" ]; then exec sh -c "$s" sh "$@"; fi
command -v setpriv >/dev/null 2>&1 || { echo "setpriv (util-linux) is needed to write as uid $U" >&2; exit 1; }
exec setpriv --reuid="$U" --regid="$G" --init-groups -- sh -c "$s" sh "$@"`

// write replaces the file with content, creating ~/.ssh if needed.
func write(ctx context.Context, c tasks.Conn, st *state, content string) error {
	mode := fs.FileMode(0o600)
	if st.fileExists {
		mode = st.f.perm
	}
	if st.dirExists && st.d.trusted && st.d.uid == 0 {
		uid, gid := st.uid, st.gid
		if st.fileExists {
			uid, gid = st.f.uid, st.f.gid
		}
		attrs := tasks.FileAttrs{Mode: mode, UID: uid, GID: gid, Size: int64(len(content))}
		return c.WriteFile(ctx, st.file, strings.NewReader(content), attrs)
	}
	mk := "0"
	if !st.dirExists {
		mk = "1"
		if st.h.uid != st.uid {
			// Root's home, that nobody else can change: made by root,
			// then given to the user.
			cmd := fmt.Sprintf("mkdir -m 0700 -- %s && chown -h -- %d:%d %s", tasks.Quote(st.dir), st.uid, st.gid, tasks.Quote(st.dir))
			if err := tasks.RunOK(ctx, c, cmd); err != nil {
				return fmt.Errorf("create %s: %w", st.dir, err)
			}
			mk = "0"
		}
	}
	cmd := fmt.Sprintf("U=%d G=%d\n", st.uid, st.gid) + script(asUser, writeScript, st.dir, st.file, fmt.Sprintf("%04o", mode), mk, strconv.Itoa(len(content)))
	res, err := c.Run(ctx, cmd, strings.NewReader(content))
	if err != nil {
		return fmt.Errorf("write %s as %s: %w", st.file, st.user, err)
	}
	if !res.OK() {
		return fmt.Errorf("write %s as %s: %s", st.file, st.user, res.Failure())
	}
	return nil
}

// script is body run by sh with args as its positional parameters.
func script(body string, args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = tasks.Quote(a)
	}
	return fmt.Sprintf("set -- %s\n%s", strings.Join(q, " "), body)
}
