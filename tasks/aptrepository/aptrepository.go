// Package aptrepository is the `apt_repository` task: an APT repository
// as Debian 12 recommends one, a deb822 .sources file in
// /etc/apt/sources.list.d whose Signed-By names the repository's own key
// in /etc/apt/keyrings, trusted for that repository only.
package aptrepository

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "apt_repository",
		Doc: "An APT repository as Debian 12 recommends: a deb822 file /etc/apt/sources.list.d/NAME.sources, and the " +
			"repository's key in /etc/apt/keyrings/NAME.asc, named by Signed-By so that it is trusted for that repository only. " +
			"Check compares both files with what they should hold, byte for byte (--diff shows how). " +
			"After a change, update_cache runs apt-get update for this repository, and the step fails when apt refuses it " +
			"(a signature the key does not verify, a suite that is not there): the files stay, for you to see. state: absent removes both files.",
		New: func() tasks.Task { return new(Repo) },
	})
}

const (
	sourcesDir = "/etc/apt/sources.list.d"
	keyringDir = "/etc/apt/keyrings"
)

// Repo is the `apt_repository` task's parameters.
type Repo struct {
	Name          string   `yaml:"name" required:"true" doc:"the files' name: NAME.sources and NAME.asc; letters, digits, ., _ and -"`
	Types         []string `yaml:"types" doc:"deb (default) and/or deb-src"`
	URIs          []string `yaml:"uris" doc:"the repository's URIs (https://deb.example.com/debian); required with state: present"`
	Suites        []string `yaml:"suites" doc:"the suites (bookworm), or one path ending in / for a flat repository; required with state: present"`
	Components    []string `yaml:"components" doc:"the components (main); required unless the suite is a path ending in /"`
	Architectures []string `yaml:"architectures" doc:"the architectures to fetch (amd64); default what dpkg and apt are configured for"`
	Key           string   `yaml:"key" doc:"the repository's OpenPGP public key, ASCII-armored (-----BEGIN PGP PUBLIC KEY BLOCK-----); required with state: present"`
	UpdateCache   *bool    `yaml:"update_cache" doc:"run apt-get update for this repository after a change, failing the step if apt refuses it; default true"`
	State         string   `yaml:"state" doc:"present (default) or absent"`
}

var (
	validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	validWord = regexp.MustCompile(`^[^\s#]+$`)
)

// Provision sets the defaults and tidies the key's text.
func (r *Repo) Provision() error {
	if len(r.Types) == 0 {
		r.Types = []string{"deb"}
	}
	if r.Key != "" {
		r.Key = strings.TrimSpace(r.Key) + "\n"
	}
	return nil
}

// Validate checks the parameters.
func (r *Repo) Validate() error {
	if !validName.MatchString(r.Name) || strings.HasSuffix(r.Name, ".sources") {
		return fmt.Errorf("name %s: use letters, digits, ., _ and - (without .sources), e.g. nodesource", decode.Quote(r.Name))
	}
	switch r.State {
	case "", "present":
	case "absent":
		return nil
	default:
		return fmt.Errorf("state must be present or absent, got %s", decode.Quote(r.State))
	}
	for _, f := range []struct {
		name string
		v    []string
	}{{"types", r.Types}, {"uris", r.URIs}, {"suites", r.Suites}, {"components", r.Components}, {"architectures", r.Architectures}} {
		for _, w := range f.v {
			if !validWord.MatchString(w) {
				return fmt.Errorf("%s: %s is not one word: give each as its own list item", f.name, decode.Quote(w))
			}
		}
	}
	for _, t := range r.Types {
		if t != "deb" && t != "deb-src" {
			return fmt.Errorf("types: %s is neither deb nor deb-src", decode.Quote(t))
		}
	}
	if len(r.URIs) == 0 || len(r.Suites) == 0 {
		return errors.New("state: present needs uris and suites")
	}
	flat := strings.HasSuffix(r.Suites[0], "/")
	switch {
	case flat && (len(r.Suites) > 1 || len(r.Components) > 0):
		return fmt.Errorf("suite %s is a flat repository's path: give it alone, without components", decode.Quote(r.Suites[0]))
	case !flat && len(r.Components) == 0:
		return errors.New("components are required (main), unless the suite is a path ending in /")
	}
	if r.Key == "" {
		return errors.New("state: present needs key: the repository's ASCII-armored public key")
	}
	return checkKey(r.Key)
}

// checkKey accepts an ASCII-armored OpenPGP public key, and nothing else:
// a private key would be left readable by everyone in /etc/apt/keyrings.
func checkKey(key string) error {
	block, err := armor.Decode(strings.NewReader(key))
	if err != nil {
		return fmt.Errorf("key is not ASCII-armored OpenPGP (-----BEGIN PGP PUBLIC KEY BLOCK-----): %w", err)
	}
	if block.Type != openpgp.PublicKeyType {
		return fmt.Errorf("key is a %s: give the repository's public key", block.Type)
	}
	keys, err := openpgp.ReadArmoredKeyRing(strings.NewReader(key))
	if err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if len(keys) == 0 {
		return errors.New("key holds no public key")
	}
	return nil
}

func (r *Repo) sourcesPath() string { return sourcesDir + "/" + r.Name + ".sources" }
func (r *Repo) keyPath() string     { return keyringDir + "/" + r.Name + ".asc" }

// sources is the deb822 stanza (sources.list(5)).
func (r *Repo) sources() []byte {
	var b bytes.Buffer
	field := func(k string, v []string) {
		if len(v) > 0 {
			fmt.Fprintf(&b, "%s: %s\n", k, strings.Join(v, " "))
		}
	}
	field("Types", r.Types)
	field("URIs", r.URIs)
	field("Suites", r.Suites)
	field("Components", r.Components)
	field("Architectures", r.Architectures)
	field("Signed-By", []string{r.keyPath()})
	return b.Bytes()
}

// Check compares both files with what they should hold.
func (r *Repo) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	if r.State == "absent" {
		return r.checkAbsent(ctx, h)
	}
	c := &tasks.Change{}
	var applies []func(context.Context) (tasks.Done, error)
	for _, f := range []struct {
		path    string
		content []byte
	}{{r.keyPath(), []byte(r.Key)}, {r.sourcesPath(), r.sources()}} {
		fc, err := r.plan(ctx, h, f.path, f.content)
		if err != nil {
			return nil, err
		}
		c.Summary = append(c.Summary, fc.Summary...)
		c.Diff += fc.Diff
		if fc.Apply != nil {
			applies = append(applies, fc.Apply)
		}
	}
	if len(applies) == 0 {
		return c, nil
	}
	update := r.UpdateCache == nil || *r.UpdateCache
	if update {
		c.Summary = append(c.Summary, "+ apt-get update for "+r.Name)
	}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		for _, apply := range applies {
			if _, err := apply(ctx); err != nil {
				return tasks.Done{}, err
			}
		}
		if update {
			return tasks.Done{}, r.update(ctx, h)
		}
		return tasks.Done{}, nil
	}
	return c, nil
}

// plan plans one file, root's and readable by all (apt reads it as _apt);
// a missing directory is made first.
func (r *Repo) plan(ctx context.Context, h *tasks.Host, p string, content []byte) (*tasks.Change, error) {
	mode := hostfile.Mode(0o644)
	spec := hostfile.Spec{Path: p, Content: hostfile.Bytes(content), Mode: &mode, Owner: "0", Group: "0"}
	fi, err := hostfile.Stat(ctx, h.Conn, p, hostfile.WantHash)
	if err != nil {
		return nil, err
	}
	return hostfile.PlanMakingDir(ctx, h, spec, fi)
}

// update refreshes this repository's lists alone, so that its errors and
// warnings (a signature apt cannot verify is a warning to apt-get update
// when the lists it had stay usable) fail the step, and another
// repository's do not.
func (r *Repo) update(ctx context.Context, h *tasks.Host) error {
	cmd := "apt-get update -q --error-on=any -o Dir::Etc::sourcelist=" + tasks.Quote(r.sourcesPath()) +
		" -o Dir::Etc::sourceparts=- -o APT::Get::List-Cleanup=0"
	res, err := h.Conn.Run(ctx, cmd, nil)
	if err != nil {
		return fmt.Errorf("apt-get update for %s: %w", r.Name, err)
	}
	if !res.OK() {
		return fmt.Errorf("apt-get update refused repository %s (%s and %s are in place): %s", r.Name, r.sourcesPath(), r.keyPath(), res.Failure())
	}
	return nil
}

func (r *Repo) checkAbsent(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c := &tasks.Change{}
	var gone []string
	for _, p := range []string{r.sourcesPath(), r.keyPath()} {
		fi, err := hostfile.Stat(ctx, h.Conn, p, 0)
		if err != nil {
			return nil, err
		}
		if fi.Exists {
			c.Summary = append(c.Summary, "- remove "+p)
			gone = append(gone, tasks.Quote(p))
		}
	}
	if len(gone) > 0 {
		c.Apply = func(ctx context.Context) (tasks.Done, error) {
			return tasks.Done{}, tasks.RunOK(ctx, h.Conn, "rm -f -- "+strings.Join(gone, " "))
		}
	}
	return c, nil
}
