package file

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

// entry is a directory or regular file under a tree, as find lists it.
type entry struct {
	typ, mode, uid, user, gid, group, rel string
}

// entryFields is how many NUL-terminated fields find prints per entry.
const entryFields = 7

// errNoOwner is what the listing's script exits with when the owner or
// group it is given has no entry on the host.
const errNoOwner = 3

// differing lists the directories and regular files under dir whose owner,
// group or mode differs from those given, in one find: symlinks under dir
// are neither followed nor listed. Every field ends with a NUL, which no
// name holds, so that a name with a newline (or anything else) is read as
// it is. Truncated says the host cut the list short.
func differing(ctx context.Context, c tasks.Conn, dir, owner, group string, mode *hostfile.Mode) (list []entry, truncated bool, err error) {
	var checks, names []string
	if owner != "" {
		checks = append(checks, "! -user "+tasks.Quote(owner))
		if _, err := strconv.ParseUint(owner, 10, 32); err != nil {
			names = append(names, fmt.Sprintf("id -u -- %[1]s >/dev/null 2>&1 || { echo no user %[1]s on this host >&2; exit %d; }", tasks.Quote(owner), errNoOwner))
		}
	}
	if group != "" {
		checks = append(checks, "! -group "+tasks.Quote(group))
		if _, err := strconv.ParseUint(group, 10, 32); err != nil {
			names = append(names, fmt.Sprintf("getent group -- %[1]s >/dev/null || { echo no group %[1]s on this host >&2; exit %d; }", tasks.Quote(group), errNoOwner))
		}
	}
	if mode != nil {
		// -perm MODE is an exact match of all 12 bits.
		checks = append(checks, "! -perm "+mode.String())
	}
	script := fmt.Sprintf("%s\nexec find %s -mindepth 1 \\( -type f -o -type d \\) \\( %s \\) -printf '%%y\\0%%m\\0%%U\\0%%u\\0%%G\\0%%g\\0%%P\\0'",
		strings.Join(names, "\n"), tasks.Quote(dir), strings.Join(checks, " -o "))
	res, err := c.Run(ctx, script, nil)
	if err != nil {
		return nil, false, fmt.Errorf("list %s: %w", dir, err)
	}
	switch {
	case res.Code == errNoOwner:
		return nil, false, tasks.DependsOnEarlier(errors.New(strings.TrimSpace(string(res.Stderr)) + ": create it first"))
	case !res.OK():
		return nil, false, fmt.Errorf("list %s: %s", dir, res.Failure())
	}
	fields := strings.Split(string(res.Stdout), "\x00")
	// What follows the last NUL is the unfinished rest of a cut list.
	fields = fields[:len(fields)-1]
	for len(fields) >= entryFields {
		f := fields[:entryFields]
		list = append(list, entry{typ: f[0], mode: f[1], uid: f[2], user: f[3], gid: f[4], group: f[5], rel: f[6]})
		fields = fields[entryFields:]
	}
	if len(fields) > 0 && !res.Truncated {
		return nil, false, fmt.Errorf("list %s: unexpected output from find", dir)
	}
	return list, res.Truncated, nil
}

// recurse plans giving owner, group and mode to everything under the
// directory p: the summary counts what differs and names the first few;
// the command walks the tree again and changes what differs then.
func (f *File) recurse(ctx context.Context, h *tasks.Host, p string) (summary, cmd string, err error) {
	list, truncated, err := differing(ctx, h.Conn, p, f.Owner, f.Group, f.Mode)
	if err != nil || len(list) == 0 {
		return "", "", err
	}
	var owners, groups, modes int
	var names []string
	for _, e := range list {
		if f.Owner != "" && f.Owner != e.user && f.Owner != e.uid {
			owners++
		}
		if f.Group != "" && f.Group != e.group && f.Group != e.gid {
			groups++
		}
		if m, err := strconv.ParseUint(e.mode, 8, 32); f.Mode != nil && (err != nil || hostfile.Mode(m) != *f.Mode) {
			modes++
		}
		if len(names) < 3 {
			names = append(names, strconv.Quote(e.rel))
		}
	}
	var what []string
	for _, w := range []struct {
		name string
		n    int
	}{{"owner", owners}, {"group", groups}, {"mode", modes}} {
		if w.n > 0 {
			what = append(what, fmt.Sprintf("%s %d", w.name, w.n))
		}
	}
	count := strconv.Itoa(len(list))
	if truncated {
		count = "at least " + count
	}
	more := ""
	if n := len(list) - len(names); n > 0 {
		more = fmt.Sprintf(" and %d more", n)
	}
	summary = fmt.Sprintf("~ %s entries under %s (%s): %s%s", count, p, strings.Join(what, ", "), strings.Join(names, ", "), more)
	m := ""
	if f.Mode != nil {
		m = f.Mode.String()
	}
	cmd = fmt.Sprintf("command -v perl >/dev/null || { echo %s >&2; exit 1; }\nperl -e %s -- %s %s %s %s",
		tasks.Quote("perl is needed to change what is under "+p+" without following a symlink"),
		tasks.Quote(recursePerl), tasks.Quote(p), tasks.Quote(m), tasks.Quote(f.Owner), tasks.Quote(f.Group))
	return summary, cmd, nil
}

// recursePerl gives owner, group and mode to every directory and regular
// file under a directory, walking it through descriptors: each directory
// is entered with fchdir on a descriptor opened with O_NOFOLLOW, and each
// entry is opened with O_NOFOLLOW from there and changed through its
// descriptor (fchown, fchmod). No path is resolved twice, so a symlink put
// anywhere in the tree, before or during the walk, is never followed: a
// user who can write in the tree cannot have root change a file outside
// it. As in attrsPerl, a regular file with other hard links is refused in
// a directory another user than root can write.
const recursePerl = `use Fcntl;
my ($root, $mode, $u, $g) = @ARGV;
my $uid = $u eq "" ? -1 : $u =~ /\A\d+\z/ ? $u : (getpwnam($u))[2];
defined $uid or die "no user $u on this host\n";
my $gid = $g eq "" ? -1 : $g =~ /\A\d+\z/ ? $g : (getgrnam($g))[2];
defined $gid or die "no group $g on this host\n";
$mode = $mode eq "" ? -1 : oct($mode);
my ($changed, $failed) = (0, 0);
sub failed { print STDERR "$_[0]\n"; $failed++; }
sub fix {
  my ($fh, $p, @st) = @_;
  my $perm = $st[2] & 07777;
  my $own = $uid >= 0 && $st[4] != $uid || $gid >= 0 && $st[5] != $gid;
  my $chmod = $mode >= 0 && $perm != $mode;
  return if !$own && !$chmod;
  if ($own) { chown($uid, $gid, $fh) or return failed("chown $p: $!"); }
  # chown clears setuid and setgid: the mode is set after it.
  if ($chmod || $own && $perm & 06000) { chmod($mode >= 0 ? $mode : $perm, $fh) or return failed("chmod $p: $!"); }
  $changed++;
}
sub walk {
  my ($dh, $dir) = @_;
  my @dst = stat($dh) or return failed("stat $dir: $!");
  my $trusted = $dst[4] == 0 && !($dst[2] & 022);
  chdir($dh) or return failed("enter $dir: $!");
  opendir(my $list, ".") or return failed("read $dir: $!");
  my @names = grep { $_ ne "." && $_ ne ".." } readdir($list);
  closedir($list);
  for my $n (@names) {
    my $p = "$dir/$n";
    lstat($n) or next;
    next unless -f _ || -d _;
    my $fh;
    if (!sysopen($fh, $n, O_RDONLY|O_NOFOLLOW|O_NONBLOCK|(-d _ ? O_DIRECTORY : 0))) {
      next if $!{ELOOP} || $!{ENOENT};
      failed("open $p: $!");
      next;
    }
    my @st = stat($fh) or do { failed("stat $p: $!"); next; };
    if (-d _) {
      fix($fh, $p, @st);
      walk($fh, $p);
      chdir($dh) or die "enter $dir again: $!\n";
    } elsif (-f _) {
      if (!$trusted && $st[3] > 1) { failed("$p has other hard links: refusing to change it in a directory another user can write"); next; }
      fix($fh, $p, @st);
    }
  }
}
sysopen(my $top, $root, O_RDONLY|O_NOFOLLOW|O_DIRECTORY) or die "open $root: $!\n";
walk($top, $root);
print "changed $changed\n";
exit($failed ? 1 : 0);`
