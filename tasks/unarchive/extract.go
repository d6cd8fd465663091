package unarchive

import (
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/tasks"
)

// extract places the members that differ. tar on the host extracts them
// into a directory beside dest that only the connection's user can enter;
// then each is moved into place from inside its directory in dest, which
// the script enters with cd and checks it is where it should be: a
// symbolic link that another user plants in dest, before or while this
// runs, is replaced or stops the run, and is never written through.
func (u *Unarchive) extract(ctx context.Context, h *tasks.Host, file string, ms []*member, place, dirs map[string]bool) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(pack(file, ms, place, pw)) }()
	defer pr.Close()
	res, err := h.Conn.Run(ctx, u.script(ms, place, dirs), pr)
	if err != nil {
		return fmt.Errorf("extract %s into %s on %s: %w", u.Src, u.Dest, h.Name, err)
	}
	if !res.OK() {
		return fmt.Errorf("extract %s into %s on %s: %s", u.Src, u.Dest, h.Name, res.Failure())
	}
	return nil
}

func (u *Unarchive) script(ms []*member, place, dirs map[string]bool) string {
	var b strings.Builder
	fmt.Fprintf(&b, `set -e
real=$(cd -P -- %s && pwd -P)
tmp=$(mktemp -d "$(dirname -- "$real")/.runbook-unarchive.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
tar -x -f - -C "$tmp" --no-same-owner --same-permissions
into() {
  want="${real%%/}${1:+/$1}"
  cd -P -- "$want" && [ "$(pwd -P)" = "$want" ] || { echo "$want is not the directory it was (a symbolic link put in dest?): stopped" >&2; exit 1; }
}
`, tasks.Quote(u.Dest))
	owner := u.owner()
	sorted := slices.Clone(ms)
	slices.SortFunc(sorted, func(a, b *member) int { return strings.Compare(a.Name, b.Name) })
	if owner != "" && len(place) > 0 {
		fmt.Fprintf(&b, "chown -hR -- %s \"$tmp\"\n", tasks.Quote(owner))
		// chown drops setuid and setgid: the modes go back on after it.
		for _, m := range sorted {
			if place[m.Name] && m.Type == "file" {
				fmt.Fprintf(&b, "chmod %04o \"$tmp\"/%s\n", m.Mode, tasks.Quote(m.Name))
			}
		}
	}
	for _, m := range sorted {
		if !place[m.Name] && !dirs[m.Name] {
			continue
		}
		parent, base := path.Dir(m.Name), tasks.Quote("./"+path.Base(m.Name))
		if parent == "." {
			parent = ""
		}
		fmt.Fprintf(&b, "into %s\n", tasks.Quote(parent))
		if m.Type == "directory" {
			fmt.Fprintf(&b, "if [ -L %[1]s ] || { [ -e %[1]s ] && [ ! -d %[1]s ]; }; then rm -f -- %[1]s; fi\n[ -d %[1]s ] || mkdir -- %[1]s\n", base)
			fmt.Fprintf(&b, "into %s\n", tasks.Quote(m.Name))
			if owner != "" {
				fmt.Fprintf(&b, "chown -h -- %s .\n", tasks.Quote(owner))
			}
			fmt.Fprintf(&b, "chmod %04o .\n", m.Mode)
			continue
		}
		fmt.Fprintf(&b, "if [ -d %[1]s ] && [ ! -L %[1]s ]; then echo %[2]s >&2; exit 1; fi\nmv -f -T -- \"$tmp\"/%[3]s %[1]s\n",
			base, tasks.Quote(path.Join(u.Dest, m.Name)+" is a directory, where the archive has a "+m.Type+": remove it first"), tasks.Quote(m.Name))
	}
	return b.String()
}

// owner is chown's OWNER:GROUP, or "" when neither is given.
func (u *Unarchive) owner() string {
	switch {
	case u.Owner != "" && u.Group != "":
		return u.Owner + ":" + u.Group
	case u.Group != "":
		return ":" + u.Group
	}
	return u.Owner
}
