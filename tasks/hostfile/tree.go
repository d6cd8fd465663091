package hostfile

import (
	"context"
	"fmt"
	pathpkg "path"
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/tasks"
)

// treeFields is how many NUL-terminated fields Tree's find prints per
// entry.
const treeFields = 8

// Tree inspects dir and everything under it in one command, and then the
// SHA-256 of the regular files hash picks in one more: a map from each
// path relative to dir ("" for dir itself) to what is there. Symlinks are
// listed as such, never followed. Every field find prints ends with a NUL,
// which no name holds, so that any name (one with a newline too) is read
// as it is. Each entry's ParentTrusted is its directory's, as listed; dir's
// own is not known here (Stat tells it). A dir that is missing, or not a
// directory, lists nothing under it.
func Tree(ctx context.Context, c tasks.Conn, dir string, hash func(rel string, fi *Info) bool) (map[string]*Info, error) {
	script := fmt.Sprintf(`d=%s
if [ -d "$d" ] && [ ! -L "$d" ]; then
  exec find "$d" -printf '%%y\0%%m\0%%U\0%%u\0%%G\0%%g\0%%s\0%%P\0'
fi`, tasks.Quote(dir))
	res, err := c.Run(ctx, script, nil)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("list %s: %s", dir, res.Failure())
	}
	if res.Truncated {
		return nil, fmt.Errorf("list %s: too many entries to list in one go", dir)
	}
	fields := strings.Split(string(res.Stdout), "\x00")
	if len(fields)%treeFields != 1 || fields[len(fields)-1] != "" {
		return nil, fmt.Errorf("list %s: unexpected output from find", dir)
	}
	tree := map[string]*Info{}
	for i := 0; i+treeFields < len(fields); i += treeFields {
		f := fields[i : i+treeFields]
		mode, err1 := strconv.ParseUint(f[1], 8, 32)
		size, err2 := strconv.ParseInt(f[6], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("list %s: unexpected output from find: %q", dir, f)
		}
		tree[f[7]] = &Info{Exists: true, Type: findType(f[0]), Mode: Mode(mode), UID: f[2], Owner: f[3], GID: f[4], Group: f[5], Size: size, ParentDir: f[7] != ""}
	}
	var hashed []string
	for rel, fi := range tree {
		if rel == "" {
			continue
		}
		if parent := tree[parentOf(rel)]; parent != nil {
			uid, err := strconv.ParseUint(parent.UID, 10, 32)
			fi.ParentTrusted = err == nil && trusted(uint32(uid), uint32(parent.Mode))
		}
		if fi.Type == "file" && hash != nil && hash(rel, fi) {
			hashed = append(hashed, rel)
		}
	}
	if len(hashed) == 0 {
		return tree, nil
	}
	sums, err := fileHashes(ctx, c, dir, hashed)
	if err != nil {
		return nil, err
	}
	for i, rel := range hashed {
		tree[rel].SHA256 = sums[i]
	}
	return tree, nil
}

// fileHashes is the SHA-256 of each regular file under dir named in rels, in
// one command: "" for one that is no longer a regular file.
func fileHashes(ctx context.Context, c tasks.Conn, dir string, rels []string) ([]string, error) {
	// The names go in the script, quoted, not on a command line: there
	// is no limit to how many.
	var b strings.Builder
	b.WriteString("for f in")
	for _, rel := range rels {
		b.WriteString(" " + tasks.Quote(pathpkg.Join(dir, rel)))
	}
	b.WriteString(`; do
  if [ -f "$f" ] && [ ! -L "$f" ]; then sha256sum <"$f" 2>/dev/null || echo -; else echo -; fi
done`)
	res, err := c.Run(ctx, b.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("hash files under %s: %w", dir, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(res.Stdout), "\n"), "\n")
	if !res.OK() || len(lines) != len(rels) {
		return nil, fmt.Errorf("hash files under %s: %s", dir, res.Failure())
	}
	sums := make([]string, len(rels))
	for i, l := range lines {
		if isSHA256Line(l) {
			sums[i] = l[:64]
		}
	}
	return sums, nil
}

func parentOf(rel string) string {
	if i := strings.LastIndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return ""
}

// findType names find's %y as Stat names stat's %F.
func findType(y string) string {
	switch y {
	case "f":
		return "file"
	case "d":
		return "directory"
	case "l":
		return "symlink"
	case "p":
		return "fifo"
	case "s":
		return "socket"
	case "c":
		return "character special file"
	case "b":
		return "block special file"
	}
	return "file of type " + y
}
