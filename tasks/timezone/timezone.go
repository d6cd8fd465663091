// Package timezone is the `timezone` task: the host's local time zone, as
// /etc/localtime (a link into /usr/share/zoneinfo) and, on Debian,
// /etc/timezone.
package timezone

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "timezone",
		Doc: "The host's time zone (Europe/Berlin, UTC): /etc/localtime a link to its file in /usr/share/zoneinfo, " +
			"and /etc/timezone on Debian. The link is replaced at once, and where systemd runs timedatectl is told " +
			"(so that it and its watchers agree). Check mode reads the link's target and /etc/timezone; a zone the host " +
			"has no file for (tzdata missing) is an error that says so.",
		New: func() tasks.Task { return new(Timezone) },
	})
}

// Timezone is the `timezone` task's parameters.
type Timezone struct {
	Name string `yaml:"name" required:"true" doc:"the zone, as named in the tz database: Europe/Berlin, America/Argentina/Buenos_Aires, UTC"`
}

// zoneName is a name of the tz database: letters, digits, _ + and -,
// in components joined by /. No dots: none is .. (outside the database).
var zoneName = regexp.MustCompile(`^[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+)*$`)

const (
	zoneinfo  = "/usr/share/zoneinfo/"
	localtime = "/etc/localtime"
	tzfile    = "/etc/timezone"
)

// Validate refuses what is no zone name.
func (z *Timezone) Validate() error {
	if len(z.Name) > 128 || !zoneName.MatchString(z.Name) {
		return fmt.Errorf("name %s is not a time zone: write it as the tz database names it, such as Europe/Berlin or UTC", decode.Quote(z.Name))
	}
	return nil
}

// state is what the host has.
type state struct {
	known     bool   // the zone's file exists
	link      string // /etc/localtime's target, "" when it is no link
	localtime string // what /etc/localtime is: missing, symlink, file...
	systemd   bool   // timedatectl can set it
	debian    bool   // /etc/timezone is kept
}

// zoneOf is the zone a link into the zone files names, as tzdata writes
// it (absolute) or timedatectl does (relative to /etc).
func zoneOf(target string) string {
	for _, dir := range []string{zoneinfo, "../usr/share/zoneinfo/", "/usr/share/zoneinfo/posix/"} {
		if strings.HasPrefix(target, dir) {
			return strings.TrimPrefix(target, dir)
		}
	}
	return ""
}

func (z *Timezone) read(ctx context.Context, c tasks.Conn) (*state, error) {
	script := fmt.Sprintf(`z=%s
if [ -f "$z" ] && [ "$(head -c 4 "$z")" = TZif ]; then echo known; fi
if [ -L %[2]s ]; then printf 'link '; readlink %[2]s
elif [ -e %[2]s ]; then echo "localtime $(LC_ALL=C stat -c %%F %[2]s)"; fi
if [ -d /run/systemd/system ] && command -v timedatectl >/dev/null; then echo systemd; fi
if [ -e /etc/debian_version ] || [ -e %[3]s ]; then echo debian; fi`, tasks.Quote(zoneinfo+z.Name), localtime, tzfile)
	res, err := c.Run(ctx, script, nil)
	if err != nil {
		return nil, fmt.Errorf("read the time zone: %w", err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("read the time zone: %s", res.Failure())
	}
	st := &state{localtime: "missing"}
	for _, l := range strings.Split(strings.TrimSuffix(string(res.Stdout), "\n"), "\n") {
		word, rest, _ := strings.Cut(l, " ")
		switch word {
		case "known":
			st.known = true
		case "link":
			st.link, st.localtime = rest, "symlink"
		case "localtime":
			st.localtime = rest
		case "systemd":
			st.systemd = true
		case "debian":
			st.debian = true
		}
	}
	return st, nil
}

// Check reads /etc/localtime's target and /etc/timezone.
func (z *Timezone) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	st, err := z.read(ctx, h.Conn)
	if err != nil {
		return nil, err
	}
	if !st.known {
		return nil, tasks.DependsOnEarlier(fmt.Errorf("time zone %s: the host has no %s%s: is the name right, and tzdata installed?", z.Name, zoneinfo, z.Name))
	}
	now := zoneOf(st.link)
	c := &tasks.Change{Result: map[string]any{"timezone": now}}
	relink := now != z.Name
	switch {
	case !relink:
	case st.link != "":
		c.Summary = append(c.Summary, fmt.Sprintf("~ %s -> %s%s, was -> %s", localtime, zoneinfo, z.Name, st.link))
	case st.localtime == "missing":
		c.Summary = append(c.Summary, fmt.Sprintf("+ link %s -> %s%s", localtime, zoneinfo, z.Name))
	case st.localtime == "directory":
		return nil, fmt.Errorf("%s is a directory: remove it first", localtime)
	default:
		c.Summary = append(c.Summary, fmt.Sprintf("~ replace %s %s with a link -> %s%s", st.localtime, localtime, zoneinfo, z.Name))
	}
	var file *tasks.Change
	if st.debian {
		fi, data, err := hostfile.Read(ctx, h.Conn, tzfile, 4096)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", tzfile, err)
		}
		if !fi.Exists || strings.TrimSpace(string(data)) != z.Name {
			if file, err = hostfile.PlanAt(ctx, h, hostfile.Spec{Path: tzfile, Content: hostfile.Bytes([]byte(z.Name + "\n"))}, fi); err != nil {
				return nil, err
			}
			c.Summary, c.Diff = append(c.Summary, file.Summary...), file.Diff
		}
	}
	if !relink && !file.Changed() {
		return c, nil
	}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		if relink {
			if err := tasks.RunOK(ctx, h.Conn, z.setCommand(st.systemd)); err != nil {
				return tasks.Done{}, fmt.Errorf("set the time zone to %s: %w", z.Name, err)
			}
		}
		if file.Changed() {
			if _, err := file.Apply(ctx); err != nil {
				return tasks.Done{}, err
			}
		}
		return tasks.Done{Result: map[string]any{"timezone": z.Name}}, nil
	}
	return c, nil
}

// setCommand links /etc/localtime to the zone: a new link made under a
// name nobody has and renamed over the old (replaced at once; mv -T fails
// on a directory). Where systemd runs, timedated is told too, so that it
// and its watchers agree; it alone would not do: it trusts the zone it
// read when it started, and takes a link changed by hand since for the
// zone it already has.
func (z *Timezone) setCommand(systemd bool) string {
	b := make([]byte, 8)
	rand.Read(b)
	tmp := tasks.Quote("/etc/.runbook-localtime-" + hex.EncodeToString(b))
	cmd := fmt.Sprintf("{ ln -sT -- %s %[2]s && mv -fT -- %[2]s %[3]s || { rm -f -- %[2]s; exit 1; }; }", tasks.Quote(zoneinfo+z.Name), tmp, localtime)
	if systemd {
		cmd += " && timedatectl set-timezone " + tasks.Quote(z.Name)
	}
	return cmd
}
