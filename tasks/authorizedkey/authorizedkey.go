// Package authorizedkey is the `authorized_key` task: one public key
// present in, or absent from, a user's authorized_keys.
package authorizedkey

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/aymanbagabas/go-udiff"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
	"golang.org/x/crypto/ssh"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "authorized_key",
		Doc: "One public key present in (or absent from) a user's authorized_keys, ~/.ssh/authorized_keys by default (the home directory as the host's passwd database has it). " +
			"A key is known by its type and base64 blob: a change of its options or comment edits its line in place, and other lines are kept (but for other keys, with exclusive). " +
			"A missing ~/.ssh is created (0700) and a missing file (0600), the user's. " +
			"The file is read and written as the user (with setpriv, from util-linux), as sshd reads it, so the user cannot make runbook touch anything else; " +
			"only in a directory that root alone can change (path: /etc/ssh/authorized_keys/alice) does root write it. Managing another user's keys needs root (become: true). " +
			"A file or directory that is a symbolic link, or belongs to another user, is refused (sshd's StrictModes would not use it).",
		New: func() tasks.Task { return new(AuthorizedKey) },
	})
}

// maxSize bounds the authorized_keys files this task edits.
const maxSize = 1 << 20

// AuthorizedKey is the `authorized_key` task's parameters.
type AuthorizedKey struct {
	User      string `yaml:"user" required:"true" doc:"the user whose keys these are; must exist on the host"`
	Key       string `yaml:"key" required:"true" doc:"one OpenSSH public key line: type, base64 blob and optional comment (ssh-ed25519 AAAA... alice@laptop), without options"`
	Options   string `yaml:"options" doc:"the key's options, as sshd reads them: from=\"10.0.0.0/8\",no-agent-forwarding; default none"`
	Comment   string `yaml:"comment" doc:"the key's comment; default the one in key"`
	State     string `yaml:"state" doc:"present (default) or absent"`
	Exclusive bool   `yaml:"exclusive" doc:"with state: present, remove every other key from the file (comment lines stay)"`
	Path      string `yaml:"path" doc:"absolute path of the file instead of ~/.ssh/authorized_keys (its directory must exist)"`
}

// Validate checks the key and its options with OpenSSH's rules.
func (a *AuthorizedKey) Validate() error {
	if a.User == "" || strings.ContainsAny(a.User, ":/\n") {
		return fmt.Errorf("user %s is not a user name", decode.Quote(a.User))
	}
	if _, err := a.want(); err != nil {
		return err
	}
	switch a.State {
	case "", "present":
	case "absent":
		if a.Exclusive {
			return errors.New("exclusive goes with state: present (it keeps only this step's key)")
		}
	default:
		return fmt.Errorf("state must be present or absent, got %s", decode.Quote(a.State))
	}
	if a.Path != "" && (!path.IsAbs(a.Path) || strings.HasSuffix(a.Path, "/")) {
		return fmt.Errorf("path %s must be the absolute path of a file", decode.Quote(a.Path))
	}
	return nil
}

// want is the key line the parameters ask for.
func (a *AuthorizedKey) want() (entry, error) {
	key := strings.TrimSpace(a.Key)
	if strings.ContainsAny(key, "\r\n") {
		return entry{}, errors.New("key must be one line: give one key a step (loop over several)")
	}
	e, ok := parseLine(key)
	if !ok {
		_, _, _, _, err := ssh.ParseAuthorizedKey([]byte(key))
		return entry{}, fmt.Errorf("key %s is not an OpenSSH public key line (type, base64 blob, comment: as in id_ed25519.pub): %w", decode.Quote(a.Key), err)
	}
	if e.options != "" {
		return entry{}, fmt.Errorf("key %s starts with options: give them in options", decode.Quote(a.Key))
	}
	if strings.ContainsAny(a.Options, "\r\n") || strings.ContainsAny(a.Comment, "\r\n") {
		return entry{}, errors.New("options and comment must be on one line")
	}
	if a.Options != "" {
		// What sshd would make of the options, read back as they would
		// be written.
		o, ok := parseLine(a.Options + " " + e.id)
		if !ok || o.options != a.Options {
			return entry{}, fmt.Errorf("options %s are not options sshd reads (comma-separated, values in double quotes: from=\"10.0.0.0/8\",no-agent-forwarding)", decode.Quote(a.Options))
		}
		if err := checkOptions(a.Options); err != nil {
			return entry{}, fmt.Errorf("options %s: %w", decode.Quote(a.Options), err)
		}
		e.options = a.Options
	}
	if a.Comment != "" {
		e.comment = strings.TrimSpace(a.Comment)
	}
	return e, nil
}

// Check reads the file as the user and edits a copy in memory.
func (a *AuthorizedKey) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	want, err := a.want()
	if err != nil {
		return nil, err
	}
	return keySet{user: a.User, path: a.Path, wants: []entry{want}, absent: a.State == "absent", exclusive: a.Exclusive}.check(ctx, h)
}

// keySet is the keys a step manages in one user's file.
type keySet struct {
	user, path        string // path "" is ~/.ssh/authorized_keys
	wants             []entry
	absent, exclusive bool
}

// check reads the file as the user and edits a copy in memory. Applying
// does it again holding the host's lock on the file, so that another run
// editing it meanwhile does not lose its keys, nor this run its own.
func (k keySet) check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c, p, err := k.plan(ctx, h)
	if err != nil || c.Apply == nil {
		return c, err
	}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		unlock, err := hostfile.Lock(ctx, h, p)
		if err != nil {
			return tasks.Done{}, err
		}
		defer unlock()
		locked := *h
		locked.Diff = false // shown already
		now, _, err := k.plan(ctx, &locked)
		if err != nil {
			return tasks.Done{}, err
		}
		if now.Apply == nil {
			return tasks.Done{Summary: append(slices.Clone(c.Summary), "(made meanwhile by another run)")}, nil
		}
		return now.Apply(ctx)
	}
	return c, nil
}

// plan reads the file and says how to edit it; it returns the file's path.
func (k keySet) plan(ctx context.Context, h *tasks.Host) (*tasks.Change, string, error) {
	st, err := read(ctx, h.Conn, k.user, k.path)
	if err != nil {
		return nil, "", err
	}
	if err := st.usable(); err != nil {
		return nil, st.file, err
	}
	if !st.fileExists && k.absent {
		return tasks.NoChange(), st.file, nil
	}
	edited, summary := edit(st.content, k.wants, k.absent, k.exclusive)
	if len(summary) == 0 && st.fileExists {
		return tasks.NoChange(), st.file, nil
	}
	c := &tasks.Change{}
	if !st.dirExists {
		c.Summary = append(c.Summary, fmt.Sprintf("+ create directory %s (0700, %s's)", st.dir, k.user))
	}
	if !st.fileExists {
		c.Summary = append(c.Summary, fmt.Sprintf("+ create %s (0600, %s's)", st.file, k.user))
	}
	for _, s := range summary {
		c.Summary = append(c.Summary, s+" in "+st.file)
	}
	if h.Diff {
		c.Diff = udiff.Unified(st.file+" (host)", st.file+" (wanted)", st.content, edited)
	}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		return tasks.Done{}, write(ctx, h.Conn, st, edited)
	}
	return c, st.file, nil
}
