// Package binary is the `binary` task: a versioned executable, verified
// against a SHA-256 given in the runbook, installed on the host.
package binary

import (
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "binary",
		Doc: "Installs an executable from a URL or a file on the controller, verified against the SHA-256 in the runbook: " +
			"a mismatch is an error and nothing is installed. Downloads happen once, on the controller, into a cache, " +
			"so hosts need no internet access; the file is streamed to each host that lacks it (compared by SHA-256). " +
			"With member, the executable is taken out of a .zip or .tar.gz archive (sha256 is the archive's).",
		New: func() tasks.Task { return new(Binary) },
	})
}

// Binary is the `binary` task's parameters.
type Binary struct {
	URL    string         `yaml:"url" doc:"http(s) or file URL to fetch on the controller; or give src"`
	Src    string         `yaml:"src" doc:"file on the controller, relative to the runbook's directory"`
	SHA256 string         `yaml:"sha256" required:"true" doc:"SHA-256 of what url or src gives (the archive, with member), in hex"`
	Member string         `yaml:"member" doc:"path of the executable inside a .zip or .tar.gz archive"`
	Dest   string         `yaml:"dest" required:"true" doc:"absolute path to install it at, e.g. /usr/local/bin/consul"`
	Mode   *hostfile.Mode `yaml:"mode" doc:"permissions; default 0755"`
	Owner  string         `yaml:"owner" doc:"owning user; default: left alone (root for a new file)"`
	Group  string         `yaml:"group" doc:"owning group; default: left alone"`
}

var hexSHA = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Provision normalises the hash: "sha256:" prefixed, or in capitals, as
// release pages print it.
func (b *Binary) Provision() error {
	b.SHA256 = strings.ToLower(strings.TrimPrefix(b.SHA256, "sha256:"))
	return nil
}

// Validate checks the parameters.
func (b *Binary) Validate() error {
	if (b.URL == "") == (b.Src == "") {
		return errors.New("give either url or src")
	}
	if !hexSHA.MatchString(b.SHA256) {
		return fmt.Errorf("sha256 must be 64 hex digits, got %s", decode.Quote(b.SHA256))
	}
	if !path.IsAbs(b.Dest) {
		return fmt.Errorf("dest %s must be absolute", decode.Quote(b.Dest))
	}
	if b.Member != "" && !isArchive(b.name()) {
		return fmt.Errorf("member is for .zip, .tar.gz and .tgz archives, and %s is none", decode.Quote(b.name()))
	}
	return nil
}

func (b *Binary) name() string {
	if b.URL != "" {
		return b.URL
	}
	return b.Src
}

// ControllerFiles is src, when given.
func (b *Binary) ControllerFiles() []tasks.ControllerFile {
	if b.Src == "" {
		return nil
	}
	return []tasks.ControllerFile{{Param: "src", Path: b.Src}}
}

// Check fetches (or finds in the cache) and verifies the executable on the
// controller, then compares it with the host's file.
func (b *Binary) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	src := b.Src
	if src != "" && !filepath.IsAbs(src) {
		src = filepath.Join(h.Dir, src)
	}
	local, content, err := fetch(ctx, b.URL, src, b.SHA256)
	if err != nil {
		return nil, err
	}
	if b.Member != "" {
		if content, err = extract(local, b.SHA256, b.Member); err != nil {
			return nil, err
		}
	}
	mode := hostfile.Mode(0o755)
	if b.Mode != nil {
		mode = *b.Mode
	}
	return hostfile.Plan(ctx, h, hostfile.Spec{Path: b.Dest, Content: content, Mode: &mode, Owner: b.Owner, Group: b.Group})
}
