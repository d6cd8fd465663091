package tasks

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"sync"
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
		return f, nil
	}
	return io.NopCloser(bytes.NewReader(c.data)), nil
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

// FileSpec is a regular file as it should be.
type FileSpec struct {
	Path    string
	Content *Content // nil: leave an existing file's content alone, create an empty one
	Mode    *Mode    // nil: leave alone; 0644 for a new file
	Owner   string   // "": leave alone
	Group   string
}

// PlanFile compares the file at spec.Path with spec and returns the change
// that makes it so: one command to inspect; the old content is read only
// for a diff the user asked for. The new content replaces the old
// atomically, and ownership and mode are set in one more command.
func PlanFile(ctx context.Context, h *Host, spec FileSpec) (*Change, error) {
	want := WantNamesFor(spec.Owner, spec.Group)
	if spec.Content != nil {
		want |= WantHash
	}
	fi, err := Stat(ctx, h.Conn, path.Clean(spec.Path), want)
	if err != nil {
		return nil, err
	}
	return PlanFileAt(ctx, h, spec, fi)
}

// PlanFileAt is PlanFile for a module that has inspected the file already
// (fi must carry its SHA-256 when spec has content).
func PlanFileAt(ctx context.Context, h *Host, spec FileSpec, fi *FileInfo) (*Change, error) {
	p := path.Clean(spec.Path)
	var err error
	if fi.Exists && fi.Type != "file" {
		return nil, fmt.Errorf("%s is a %s, not a regular file: remove it first (file with state: absent)", p, fi.Type)
	}
	if !fi.ParentDir {
		return nil, fmt.Errorf("directory %s does not exist: create it first (file with state: directory)", path.Dir(p))
	}
	c := &Change{}
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
	var cmds []string
	if write && fi.Exists {
		// The new content is a new file, owned by whoever wrote it: it
		// gets the old file's owner and group unless told otherwise.
		Ownership(c, p, fi, spec.Owner, spec.Group)
		cmds = append(cmds, "chown "+Quote(cmpOr(spec.Owner, fi.UID)+":"+cmpOr(spec.Group, fi.GID))+" "+Quote(p))
	} else {
		cmds = append(cmds, Ownership(c, p, fi, spec.Owner, spec.Group)...)
	}
	if fi.Exists && mode != fi.Mode {
		c.Summary = append(c.Summary, fmt.Sprintf("~ mode %s -> %s", fi.Mode, mode))
	}
	// chown clears setuid and setgid, and the upload cannot set them.
	if !write && mode != fi.Mode || len(cmds) > 0 && mode.Perm() != fs.FileMode(mode) || write && mode.Perm() != fs.FileMode(mode) {
		cmds = append(cmds, chmod(mode, p))
	}
	if !write && len(cmds) == 0 {
		return c, nil
	}
	c.Apply = func(ctx context.Context) (map[string]any, error) {
		if write {
			r, err := content.open()
			if err != nil {
				return nil, err
			}
			defer r.Close()
			if err := h.Conn.WriteFile(ctx, p, r, mode.Perm()); err != nil {
				return nil, err
			}
		}
		if len(cmds) == 0 {
			return nil, nil
		}
		return nil, RunOK(ctx, h.Conn, strings.Join(cmds, " && "))
	}
	return c, nil
}

// Ownership returns the chown that gives p the wanted owner and group, if
// it needs one, and says so in c.
func Ownership(c *Change, p string, fi *FileInfo, owner, group string) []string {
	if owner != "" && fi.Exists && fi.OwnedBy(owner) {
		owner = ""
	}
	if group != "" && fi.Exists && fi.InGroup(group) {
		group = ""
	}
	if owner == "" && group == "" {
		return nil
	}
	if fi.Exists && owner != "" && owner != fi.UID {
		c.Summary = append(c.Summary, fmt.Sprintf("~ owner %s -> %s", fi.OwnerName(), owner))
	}
	if fi.Exists && group != "" && group != fi.GID {
		c.Summary = append(c.Summary, fmt.Sprintf("~ group %s -> %s", fi.GroupName(), group))
	}
	spec := owner
	if group != "" {
		spec += ":" + group
	}
	return []string{"chown " + Quote(spec) + " " + Quote(p)}
}

func chmod(m Mode, p string) string { return fmt.Sprintf("chmod %s %s", m, Quote(p)) }

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// RunOK runs cmd and turns a non-zero exit into an error.
func RunOK(ctx context.Context, c Conn, cmd string) error {
	res, err := c.Run(ctx, cmd, nil)
	if err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("%s: %s", cmd, res.Failure())
	}
	return nil
}

func contentDiff(ctx context.Context, c Conn, p string, fi *FileInfo, want *Content) (string, error) {
	small, err := want.small()
	if err != nil {
		return "", err
	}
	if small == nil {
		return fmt.Sprintf("--- %s\n+++ %s\n(content too large to show: %d -> %d bytes)\n", p, p, fi.Size, want.Size()), nil
	}
	return ContentDiff(ctx, c, p, fi, small)
}
