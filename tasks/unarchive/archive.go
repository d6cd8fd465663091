package unarchive

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	"github.com/ulikunitz/xz"
)

// member is an entry of an archive, as it will be in dest.
type member struct {
	Name   string // relative to dest, cleaned
	Type   string // "file", "directory" or "symlink", as hostfile names them
	Mode   uint32 // permission bits, with setuid, setgid and sticky
	Size   int64
	SHA256 string
	Link   string    // a symlink's target
	MTime  time.Time // kept by the extraction
	// hardlink names the earlier member whose content a hard link in the
	// archive shares: it is extracted as a copy of it.
	hardlink string
}

// formats are the archive names the task knows, by their ending.
var formats = []string{".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar", ".zip"}

func format(name string) (string, error) {
	for _, f := range formats {
		if strings.HasSuffix(name, f) {
			return f, nil
		}
	}
	return "", fmt.Errorf("%s is not an archive the task knows: its name must end in .tar, .tar.gz, .tgz, .tar.xz, .txz or .zip", name)
}

// walk calls fn for each entry of the archive at file (on the controller),
// with its content when it is a regular file. Entries are checked as
// safe: none may leave dest (see check).
func walk(file string, fn func(m *member, content io.Reader) error) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	kind, err := format(file)
	if err != nil {
		return err
	}
	seen := map[string]*member{}
	emit := func(m *member, content io.Reader) error {
		if err := check(m, seen); err != nil {
			return err
		}
		if m.Name == "" {
			return nil // the archive's top, ./: dest itself
		}
		seen[m.Name] = m
		return fn(m, content)
	}
	if kind == ".zip" {
		st, err := f.Stat()
		if err != nil {
			return err
		}
		zr, err := zip.NewReader(f, st.Size())
		if err != nil {
			return err
		}
		for _, zf := range zr.File {
			if err := walkZip(zf, emit); err != nil {
				return err
			}
		}
		return nil
	}
	var r io.Reader = f
	switch kind {
	case ".tar.gz", ".tgz":
		gz, err := gzip.NewReader(f)
		if err != nil {
			return err
		}
		r = gz
	case ".tar.xz", ".txz":
		if r, err = xz.NewReader(f); err != nil {
			return err
		}
	}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		m := &member{Name: hdr.Name, Mode: uint32(hdr.Mode) & 0o7777, MTime: hdr.ModTime}
		var content io.Reader
		switch hdr.Typeflag {
		case tar.TypeReg, tar.TypeRegA:
			m.Type, m.Size, content = "file", hdr.Size, tr
		case tar.TypeDir:
			m.Type = "directory"
		case tar.TypeSymlink:
			m.Type, m.Link, m.Mode = "symlink", hdr.Linkname, 0o777
		case tar.TypeLink:
			m.Type, m.hardlink = "file", hdr.Linkname
		case tar.TypeXGlobalHeader:
			continue
		default:
			return fmt.Errorf("%s: a member of type %q (a device or fifo): the task extracts files, directories and links only", hdr.Name, hdr.Typeflag)
		}
		if err := emit(m, content); err != nil {
			return err
		}
	}
}

func walkZip(zf *zip.File, emit func(*member, io.Reader) error) error {
	mode := zf.Mode()
	m := &member{Name: zf.Name, Mode: uint32(mode.Perm()), MTime: zf.Modified}
	if mode&fs.ModeSetuid != 0 {
		m.Mode |= 0o4000
	}
	if mode&fs.ModeSetgid != 0 {
		m.Mode |= 0o2000
	}
	if mode&fs.ModeSticky != 0 {
		m.Mode |= 0o1000
	}
	switch {
	case mode.IsDir():
		m.Type = "directory"
		return emit(m, nil)
	case mode&fs.ModeSymlink != 0:
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		target, err := io.ReadAll(io.LimitReader(rc, 4096))
		rc.Close()
		if err != nil {
			return err
		}
		m.Type, m.Link, m.Mode = "symlink", string(target), 0o777
		return emit(m, nil)
	case mode.IsRegular():
		rc, err := zf.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		m.Type, m.Size = "file", int64(zf.UncompressedSize64)
		return emit(m, rc)
	}
	return fmt.Errorf("%s: a member that is not a file, directory or link", zf.Name)
}

// check refuses a member that would land outside dest, or point outside
// it, and cleans its name. seen holds the members before it.
func check(m *member, seen map[string]*member) error {
	name, err := clean(m.Name)
	if err != nil {
		return err
	}
	m.Name = name
	switch {
	case m.Type == "symlink":
		if m.Link == "" || path.IsAbs(m.Link) {
			return fmt.Errorf("%s: a symbolic link to %q, outside dest: refused", name, m.Link)
		}
		if t := path.Join(path.Dir(name), m.Link); t == ".." || strings.HasPrefix(t, "../") {
			return fmt.Errorf("%s: a symbolic link to %q, outside dest: refused", name, m.Link)
		}
	case m.hardlink != "":
		target, err := clean(m.hardlink)
		if err != nil || seen[target] == nil || seen[target].Type != "file" {
			return fmt.Errorf("%s: a hard link to %q, not a file earlier in the archive: refused", name, m.hardlink)
		}
		m.hardlink = target
		t := seen[target]
		m.Size, m.SHA256 = t.Size, t.SHA256
	}
	if name == "" && m.Type != "directory" {
		return fmt.Errorf("a member named %q that is not a directory", m.Name)
	}
	// A member below a symbolic link of the archive would be written
	// through it.
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		if p := seen[dir]; p != nil && p.Type != "directory" {
			return fmt.Errorf("%s: below %s, which the archive makes a %s: refused", name, dir, p.Type)
		}
	}
	return nil
}

// clean is a member's name relative to dest: "" for dest itself. An
// absolute name, or one with a .. in it, is refused.
func clean(name string) (string, error) {
	if path.IsAbs(name) {
		return "", fmt.Errorf("%s: an absolute path: refused", name)
	}
	for _, part := range strings.Split(name, "/") {
		if part == ".." {
			return "", fmt.Errorf("%s: a path with ..: refused", name)
		}
	}
	c := path.Clean(name)
	if c == "." {
		return "", nil
	}
	return c, nil
}

// list reads the archive's members, each file's content hashed.
func list(file string) ([]*member, error) {
	var out []*member
	err := walk(file, func(m *member, content io.Reader) error {
		if content != nil {
			h := sha256.New()
			n, err := io.Copy(h, content)
			if err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
			m.Size, m.SHA256 = n, hex.EncodeToString(h.Sum(nil))
		}
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read archive %s: %w", file, err)
	}
	return implied(out), nil
}

// implied adds the directories an archive holds members in without
// listing them (zip files often do), as mode 0755, and keeps the last of
// members of the same name.
func implied(ms []*member) []*member {
	byName := map[string]*member{}
	for _, m := range ms {
		byName[m.Name] = m
	}
	var out []*member
	for _, m := range ms {
		for dir := path.Dir(m.Name); dir != "."; dir = path.Dir(dir) {
			if byName[dir] == nil {
				d := &member{Name: dir, Type: "directory", Mode: 0o755}
				byName[dir] = d
				out = append(out, d)
			}
		}
		if byName[m.Name] == m {
			out = append(out, m)
		}
	}
	return out
}

// pack writes a tar of the members of file that place names (files and
// symbolic links), for tar on the host to extract into a private
// directory: the archive's own format does not matter there, and nothing
// else of it reaches the host.
func pack(file string, ms []*member, place map[string]bool, w io.Writer) error {
	// A hard link is extracted as a copy: the content it shares is kept
	// while the archive is read.
	shared := map[string][]byte{}
	for _, m := range ms {
		if m.hardlink != "" && place[m.Name] {
			shared[m.hardlink] = nil
		}
	}
	tw := tar.NewWriter(w)
	err := walk(file, func(m *member, content io.Reader) error {
		if _, ok := shared[m.Name]; ok && content != nil {
			b, err := io.ReadAll(content)
			if err != nil {
				return err
			}
			shared[m.Name], content = b, strings.NewReader(string(b))
		}
		if !place[m.Name] || m.Type == "directory" {
			return nil
		}
		hdr := &tar.Header{Name: m.Name, Mode: int64(m.Mode), ModTime: m.MTime, Format: tar.FormatPAX}
		switch {
		case m.Type == "symlink":
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, m.Link
		case m.hardlink != "":
			hdr.Typeflag, hdr.Size, content = tar.TypeReg, int64(len(shared[m.hardlink])), strings.NewReader(string(shared[m.hardlink]))
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, m.Size
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if content != nil && hdr.Typeflag == tar.TypeReg {
			if _, err := io.Copy(tw, content); err != nil {
				return fmt.Errorf("%s: %w", m.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}
