package hostfile

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/runbookdev/runbook/tasks"
)

// CheckValidate judges a validate command as Spec takes it: it must name
// the file to check with %s.
func CheckValidate(cmd string) error {
	if cmd != "" && !strings.Contains(cmd, "%s") {
		return fmt.Errorf("validate %q has no %%s: write where the new file's path goes, e.g. sshd -t -f %%s or visudo -cf %%s", cmd)
	}
	return nil
}

// ValidationError is a validate command that judged the new content bad.
type ValidationError struct {
	Path   string // the file that was not written
	Cmd    string // as given, with %s
	Result tasks.Result
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("validate %q refused the new content of %s, which is left as it was: %s", e.Cmd, e.Path, e.Result.Failure())
}

// validate writes content into a directory of its own under the host's
// temporary directory, that nobody but the connection's user can enter
// (mktemp -d: mode 0700), and runs cmd on it there, %s its path. The
// directory is removed whatever happens, even when ctx is cancelled.
//
// The file is named as p is, for validators that read the name; but it is
// not beside p, so a validator that resolves relative includes from the
// file's directory finds other files than p's (as Ansible's validate).
func validate(ctx context.Context, c tasks.Conn, p string, content *Content, cmd string) (err error) {
	res, err := c.Run(ctx, `mktemp -d "${TMPDIR:-/tmp}/runbook-validate.XXXXXXXXXX"`, nil)
	if err == nil && !res.OK() {
		err = errors.New(res.Failure())
	}
	if err != nil {
		return fmt.Errorf("validate %s: make a private directory: %w", p, err)
	}
	dir := strings.TrimSuffix(string(res.Stdout), "\n")
	if !path.IsAbs(dir) || strings.ContainsAny(dir, "\n") {
		return fmt.Errorf("validate %s: mktemp answered %q", p, res.Stdout)
	}
	defer func() {
		clean, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if rmErr := tasks.RunOK(clean, c, "rm -rf -- "+tasks.Quote(dir)); rmErr != nil && err == nil {
			err = fmt.Errorf("validate %s: remove the temporary copy: %w", p, rmErr)
		}
	}()
	tmp := path.Join(dir, path.Base(p))
	r, err := content.open()
	if err != nil {
		return err
	}
	defer r.Close()
	if err := c.WriteFile(ctx, tmp, r, tasks.FileAttrs{Mode: 0o600, UID: -1, GID: -1, Size: content.Size()}); err != nil {
		return fmt.Errorf("validate %s: %w", p, err)
	}
	res, err = c.Run(ctx, strings.ReplaceAll(cmd, "%s", tasks.Quote(tmp)), nil)
	if err != nil {
		return fmt.Errorf("validate %s: %w", p, err)
	}
	if !res.OK() {
		return &ValidationError{Path: p, Cmd: cmd, Result: res}
	}
	return nil
}

// backupName is the name backup tries first for p at t: the time, in UTC,
// and ~ last, which sudo (for sudoers.d) and most .d readers skip.
func backupName(p string, t time.Time) string {
	return p + "." + t.UTC().Format("2006-01-02T150405Z") + "~"
}

// backup keeps the file at p under a new name beside it, as a hard link:
// the write that follows replaces p with a new file (rename), so the link
// keeps the old one as it was, with its mode and owner, and nothing is
// copied. ln never follows a symlink at the new name, nor replaces
// anything there: a name taken is skipped for the next (NAME.2~, ...).
func backup(ctx context.Context, c tasks.Conn, p string, now time.Time) (string, error) {
	first := backupName(p, now)
	script := fmt.Sprintf(`p=%s b=%s i=1
until ln -P -- "$p" "$b" 2>/dev/null; do
  if [ ! -e "$b" ] && [ ! -L "$b" ] || [ $i -ge 100 ]; then ln -P -- "$p" "$b"; exit 1; fi
  i=$((i+1)); b=%s.$i~
done
printf '%%s' "$b"`, tasks.Quote(p), tasks.Quote(first), tasks.Quote(strings.TrimSuffix(first, "~")))
	res, err := c.Run(ctx, script, nil)
	if err == nil && !res.OK() {
		err = errors.New(res.Failure())
	}
	if err != nil {
		return "", fmt.Errorf("back up %s: %w", p, err)
	}
	return string(res.Stdout), nil
}
