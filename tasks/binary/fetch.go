package binary

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"

	"github.com/runbookdev/runbook/tasks/hostfile"
)

// CacheDir is where downloads and extracted members are kept, by hash:
// $RUNBOOK_CACHE, else the user's cache directory.
func CacheDir() (string, error) {
	if d := os.Getenv("RUNBOOK_CACHE"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find a cache directory (set RUNBOOK_CACHE): %w", err)
	}
	return filepath.Join(d, "runbook"), nil
}

// locks makes hosts that need the same file wait for one download, and for
// one reading of it: the others then find its hash in hostfile.LocalFile's
// memo, so that an artifact is read once per run, not once per host.
var locks sync.Map

func lock(key string) func() {
	m, _ := locks.LoadOrStore(key, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// fetch returns a local file with the wanted hash, and its content: src
// itself once verified, or the cached download of rawURL.
func fetch(ctx context.Context, rawURL, src, want string) (string, *hostfile.Content, error) {
	if src != "" {
		defer lock(src)()
		c, err := hostfile.LocalFile(src)
		if err != nil {
			return "", nil, err
		}
		if c.SHA256() != want {
			return "", nil, fmt.Errorf("%s has sha256 %s, but the runbook wants %s: nothing installed", src, c.SHA256(), want)
		}
		return src, c, nil
	}
	dir, err := CacheDir()
	if err != nil {
		return "", nil, err
	}
	cached := filepath.Join(dir, "downloads", want)
	defer lock(cached)()
	if c, err := hostfile.LocalFile(cached); err == nil && c.SHA256() == want {
		return cached, c, nil
	}
	if err := os.MkdirAll(filepath.Dir(cached), 0o755); err != nil {
		return "", nil, err
	}
	if err := download(ctx, rawURL, cached, want); err != nil {
		return "", nil, err
	}
	c, err := hostfile.LocalFile(cached)
	return cached, c, err
}

// download stores what rawURL gives at p, when it has the hash want.
func download(ctx context.Context, rawURL, p, want string) error {
	body, err := open(ctx, rawURL)
	if err != nil {
		return err
	}
	defer body.Close()
	tmp, err := os.CreateTemp(filepath.Dir(p), ".download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), body); err != nil {
		tmp.Close()
		return fmt.Errorf("download %s: %w", rawURL, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("download %s has sha256 %s, but the runbook wants %s: nothing installed", rawURL, got, want)
	}
	return os.Rename(tmp.Name(), p)
}

func open(ctx context.Context, rawURL string) (io.ReadCloser, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("url %q: %w", rawURL, err)
	}
	switch u.Scheme {
	case "file":
		return os.Open(u.Path)
	case "http", "https":
	default:
		return nil, fmt.Errorf("url %q: want http, https or file", rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download %s: %w", rawURL, err)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("download %s: %s", rawURL, resp.Status)
	}
	return resp.Body, nil
}

func isArchive(name string) bool {
	name = strings.ToLower(name)
	return strings.HasSuffix(name, ".zip") || strings.HasSuffix(name, ".tar.gz") || strings.HasSuffix(name, ".tgz")
}

// extract takes member out of the verified archive at p, once: it is cached
// beside the download under the archive's hash.
func extract(p, archiveSHA, member string) (*hostfile.Content, error) {
	dir, err := CacheDir()
	if err != nil {
		return nil, err
	}
	out := filepath.Join(dir, "extracted", archiveSHA, path.Clean("/" + member)[1:])
	defer lock(out)()
	if _, err := os.Stat(out); err != nil {
		if err := extractTo(p, member, out); err != nil {
			return nil, err
		}
	}
	return hostfile.LocalFile(out)
}

func extractTo(p, member, out string) error {
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	r, closeFn, err := findMember(p, member)
	if err != nil {
		return err
	}
	defer closeFn()
	tmp, err := os.CreateTemp(filepath.Dir(out), ".extract-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("extract %s: %w", member, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), out)
}

func findMember(p, member string) (io.Reader, func(), error) {
	want := path.Clean(member)
	if strings.HasSuffix(strings.ToLower(p), ".zip") || isZip(p) {
		z, err := zip.OpenReader(p)
		if err != nil {
			return nil, nil, fmt.Errorf("open archive: %w", err)
		}
		for _, f := range z.File {
			if path.Clean(f.Name) == want {
				rc, err := f.Open()
				if err != nil {
					z.Close()
					return nil, nil, err
				}
				return rc, func() { rc.Close(); z.Close() }, nil
			}
		}
		z.Close()
		return nil, nil, fmt.Errorf("archive has no member %q", member)
	}
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	gz, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("open archive: %w", err)
	}
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			f.Close()
			return nil, nil, fmt.Errorf("archive has no member %q", member)
		}
		if err != nil {
			f.Close()
			return nil, nil, fmt.Errorf("read archive: %w", err)
		}
		if path.Clean(hdr.Name) == want && hdr.Typeflag == tar.TypeReg {
			return tr, func() { f.Close() }, nil
		}
	}
}

// isZip tells a zip by its magic number: cached downloads have no suffix.
func isZip(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close()
	var magic [4]byte
	_, err = io.ReadFull(f, magic[:])
	return err == nil && string(magic[:]) == "PK\x03\x04"
}
