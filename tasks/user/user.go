// Package user is the `user` task: a local user account.
package user

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/authorizedkey"
	"github.com/runbookdev/runbook/tasks/group"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "user",
		Doc: "A local user (useradd, usermod, userdel): its UID, primary and extra groups (exactly those listed, or with append those and any others), home, shell and SSH keys (as authorized_key writes them); " +
			"e.g. a system user for a daemon with no login shell. Absent removes the user, not its home.",
		New: func() tasks.Task { return new(User) },
	})
}

// User is the `user` task's parameters.
type User struct {
	Name       string   `yaml:"name" required:"true" doc:"the user's name"`
	UID        *int     `yaml:"uid" doc:"its number; default: chosen by useradd"`
	Group      string   `yaml:"group" doc:"primary group (must exist); default: a group of the user's name"`
	Groups     []string `yaml:"groups" doc:"extra groups (they must exist): exactly these, the user taken out of any other; with append, these and any others it is in"`
	Append     bool     `yaml:"append" doc:"add the user to groups and leave it in the others it is in (usermod --append); default false: groups are all its extra groups"`
	Home       string   `yaml:"home" doc:"home directory; default: useradd's (/home/NAME)"`
	CreateHome bool     `yaml:"create_home" doc:"create the home directory when creating the user"`
	Shell      string   `yaml:"shell" doc:"login shell, e.g. /usr/sbin/nologin for a daemon"`
	System     bool     `yaml:"system" doc:"a system account (UID from the system range) when created"`
	Comment    string   `yaml:"comment" doc:"the GECOS field"`
	State      string   `yaml:"state" doc:"present (default) or absent"`
	// Reading and writing the file is authorized_key's, so that a user
	// who swaps ~/.ssh for a link gets nothing.
	AuthorizedKeys          []string `yaml:"authorized_keys" doc:"public key lines (ssh-ed25519 AAAA... alice@laptop, options first if any) present in the user's ~/.ssh/authorized_keys, read and written as the user as authorized_key does; the file's other keys are left, unless authorized_keys_exclusive"`
	AuthorizedKeysExclusive bool     `yaml:"authorized_keys_exclusive" doc:"keep only the keys of authorized_keys in the file, removing any other (comment lines stay); with an empty list, every key goes"`
}

// Validate checks the parameters.
func (u *User) Validate() error {
	if !group.ValidName(u.Name) {
		return fmt.Errorf("name %s is not a valid user name", decode.Quote(u.Name))
	}
	for _, g := range append([]string{u.Group}, u.Groups...) {
		if g != "" && !group.ValidName(g) {
			return fmt.Errorf("group %s is not a valid group name", decode.Quote(g))
		}
	}
	if u.State != "" && u.State != "present" && u.State != "absent" {
		return fmt.Errorf("state must be present or absent, got %s", decode.Quote(u.State))
	}
	if strings.ContainsAny(u.Comment, ":\n") {
		return fmt.Errorf("comment cannot hold ':' or a newline")
	}
	if u.Append && len(u.Groups) == 0 {
		return errors.New("append goes with groups: it adds the user to the groups listed, leaving the others")
	}
	if u.AuthorizedKeysExclusive && u.AuthorizedKeys == nil {
		return errors.New("authorized_keys_exclusive goes with authorized_keys (authorized_keys: [] with it removes every key)")
	}
	if u.State == "absent" && (u.AuthorizedKeys != nil || u.Append) {
		return errors.New("authorized_keys and append go with state: present")
	}
	return u.keys().Validate("authorized_keys")
}

// Check reads the account and its groups in one command.
func (u *User) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	q := tasks.Quote(u.Name)
	res, err := h.Conn.Run(ctx, fmt.Sprintf("getent passwd %[1]s && echo groups=$(id -gn %[1]s) $(id -Gn %[1]s) || true", q), nil)
	if err != nil {
		return nil, fmt.Errorf("look up user %s: %w", u.Name, err)
	}
	out := strings.TrimSpace(string(res.Stdout))
	c := &tasks.Change{}
	var cmd string
	switch {
	case u.State == "absent" && out != "":
		c.Summary = []string{"- remove user " + u.Name}
		cmd = "userdel " + q
	case u.State == "absent":
	case out == "":
		c.Summary = []string{"+ create user " + u.Name}
		cmd = "useradd" + u.flags(true) + " " + q
	default:
		cmd = u.modify(c, out)
	}
	// The keys of a user this step creates are read once it exists.
	var keys *tasks.Change
	keysLater := false
	wantKeys := u.State != "absent" && (len(u.AuthorizedKeys) > 0 || u.AuthorizedKeysExclusive)
	if wantKeys {
		if out == "" {
			c.Summary = append(c.Summary, fmt.Sprintf("+ authorized_keys: %d keys in ~%s/.ssh/authorized_keys", len(u.AuthorizedKeys), u.Name))
			keysLater = true
		} else {
			if keys, err = u.keys().Check(ctx, h); err != nil {
				return nil, err
			}
			c.Summary = append(c.Summary, keys.Summary...)
			c.Diff = keys.Diff
		}
	}
	if cmd == "" && !keysLater && !keys.Changed() {
		return c, nil
	}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		if cmd != "" {
			if err := tasks.RunOK(ctx, h.Conn, cmd); err != nil {
				return tasks.Done{}, err
			}
		}
		k := keys
		// Read again after usermod, which may have moved the home.
		if keysLater || (wantKeys && cmd != "") {
			var err error
			if k, err = u.keys().Check(ctx, h); err != nil {
				return tasks.Done{}, err
			}
		}
		if k.Changed() {
			if _, err := k.Apply(ctx); err != nil {
				return tasks.Done{}, err
			}
		}
		return tasks.Done{}, nil
	}
	return c, nil
}

func (u *User) keys() authorizedkey.Keys {
	return authorizedkey.Keys{User: u.Name, Lines: u.AuthorizedKeys, Exclusive: u.AuthorizedKeysExclusive}
}

// modify compares the account with the parameters and returns the usermod
// that makes them agree, if any.
func (u *User) modify(c *tasks.Change, out string) string {
	lines := strings.Split(out, "\n")
	f := strings.Split(lines[0], ":") // name:x:uid:gid:gecos:home:shell
	if len(f) < 7 {
		return ""
	}
	var primary string
	var extra []string
	if len(lines) > 1 {
		g := strings.Fields(strings.TrimPrefix(lines[1], "groups="))
		if len(g) > 0 {
			primary = g[0]
			for _, x := range g[1:] {
				if x != primary && !slices.Contains(extra, x) {
					extra = append(extra, x)
				}
			}
		}
	}
	var flags []string
	diff := func(what, have, want, flag string) {
		if want != "" && have != want {
			c.Summary = append(c.Summary, fmt.Sprintf("~ %s %s -> %s", what, have, want))
			flags = append(flags, flag+" "+tasks.Quote(want))
		}
	}
	if u.UID != nil {
		diff("uid", f[2], fmt.Sprint(*u.UID), "--uid")
	}
	diff("group", primary, u.Group, "--gid")
	diff("home", f[5], u.Home, "--home")
	diff("shell", f[6], u.Shell, "--shell")
	diff("comment", f[4], u.Comment, "--comment")
	if u.Groups != nil && u.Append {
		var missing []string
		for _, g := range u.Groups {
			if !slices.Contains(extra, g) && g != primary && !slices.Contains(missing, g) {
				missing = append(missing, g)
			}
		}
		if len(missing) > 0 {
			c.Summary = append(c.Summary, fmt.Sprintf("~ groups + [%s] (append: the others kept)", strings.Join(missing, ",")))
			flags = append(flags, "--append --groups "+tasks.Quote(strings.Join(missing, ",")))
		}
	} else if u.Groups != nil {
		want := slices.Clone(u.Groups)
		slices.Sort(want)
		have := slices.Clone(extra)
		slices.Sort(have)
		if !slices.Equal(want, have) {
			c.Summary = append(c.Summary, fmt.Sprintf("~ groups [%s] -> [%s]", strings.Join(have, ","), strings.Join(want, ",")))
			flags = append(flags, "--groups "+tasks.Quote(strings.Join(want, ",")))
		}
	}
	if len(flags) == 0 {
		return ""
	}
	return "usermod " + strings.Join(flags, " ") + " " + tasks.Quote(u.Name)
}

func (u *User) flags(create bool) string {
	var b strings.Builder
	if u.System && create {
		b.WriteString(" --system")
	}
	if u.UID != nil {
		fmt.Fprintf(&b, " --uid %d", *u.UID)
	}
	if u.Group != "" {
		b.WriteString(" --gid " + tasks.Quote(u.Group))
	} else if create {
		b.WriteString(" --user-group")
	}
	if len(u.Groups) > 0 {
		b.WriteString(" --groups " + tasks.Quote(strings.Join(u.Groups, ",")))
	}
	if u.Home != "" {
		b.WriteString(" --home-dir " + tasks.Quote(u.Home))
	}
	if u.CreateHome && create {
		b.WriteString(" --create-home")
	} else if create {
		b.WriteString(" --no-create-home")
	}
	if u.Shell != "" {
		b.WriteString(" --shell " + tasks.Quote(u.Shell))
	}
	if u.Comment != "" {
		b.WriteString(" --comment " + tasks.Quote(u.Comment))
	}
	return b.String()
}
