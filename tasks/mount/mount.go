// Package mount is the `mount` task: a filesystem's line in fstab and
// whether it is mounted now, as Ansible's mount.
package mount

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "mount",
		Doc: "A filesystem mounted on a directory: its line in fstab and whether it is mounted now. " +
			"state: mounted (in fstab and mounted; a missing mount point is created), present (in fstab only), " +
			"unmounted (not mounted; its fstab line as given when src and fstype are), absent (neither: the line removed, " +
			"unmounted; the mount point stays), remounted (mount -o remount, fstab untouched; always a change). " +
			"Check mode reads /proc/self/mountinfo and the fstab: another filesystem mounted there, or the line changed by hand, is drift; " +
			"a bind mount (opts with bind) is recognised by the directory it shows. Fields are written as fstab(5) wants (a space as \\040). " +
			"Mount options other than ro/rw are not compared with the running mount, as the kernel rewrites them (size=8m shows as size=8192k): " +
			"a changed opts in fstab remounts.",
		New: func() tasks.Task { return new(Mount) },
	})
}

// maxFstab bounds the fstab read.
const maxFstab = 1 << 20

// Mount is the `mount` task's parameters.
type Mount struct {
	Path   string `yaml:"path" required:"true" doc:"the mount point, absolute"`
	Src    string `yaml:"src" doc:"what is mounted: a device (/dev/sdb1, UUID=..., LABEL=...), tmpfs, a directory for a bind mount; required with mounted and present"`
	FSType string `yaml:"fstype" doc:"the filesystem type (ext4, xfs, tmpfs, none for a bind mount); required with mounted and present"`
	Opts   string `yaml:"opts" doc:"mount options, comma-separated; default defaults"`
	Dump   int    `yaml:"dump" doc:"fstab's fifth field (dump(8)); default 0"`
	Passno int    `yaml:"passno" doc:"fstab's sixth field, the fsck order: 0 (default), 1 for the root filesystem, 2 for others"`
	State  string `yaml:"state" required:"true" doc:"mounted, present, unmounted, absent or remounted"`
	Fstab  string `yaml:"fstab" doc:"the file; default /etc/fstab"`
}

// Provision sets the defaults.
func (m *Mount) Provision() error {
	if m.Opts == "" {
		m.Opts = "defaults"
	}
	if m.Fstab == "" {
		m.Fstab = "/etc/fstab"
	}
	if path.IsAbs(m.Path) {
		m.Path = path.Clean(m.Path)
	}
	return nil
}

// Validate checks the parameters.
func (m *Mount) Validate() error {
	if !path.IsAbs(m.Path) {
		return fmt.Errorf("path %s must be absolute", decode.Quote(m.Path))
	}
	if !path.IsAbs(m.Fstab) {
		return fmt.Errorf("fstab %s must be absolute", decode.Quote(m.Fstab))
	}
	switch m.State {
	case "mounted", "present":
		if m.Src == "" || m.FSType == "" {
			return fmt.Errorf("state: %s needs src and fstype (for a tmpfs: src: tmpfs, fstype: tmpfs)", m.State)
		}
	case "unmounted":
		if (m.Src == "") != (m.FSType == "") {
			return errors.New("state: unmounted takes src and fstype together (to write the fstab line) or neither (to leave fstab alone)")
		}
	case "absent", "remounted":
	default:
		return fmt.Errorf("state must be mounted, present, unmounted, absent or remounted, got %s", decode.Quote(m.State))
	}
	for name, v := range map[string]string{"path": m.Path, "src": m.Src, "opts": m.Opts, "fstab": m.Fstab} {
		if strings.ContainsAny(v, "\n\r\x00") {
			return fmt.Errorf("%s must be one line", name)
		}
	}
	if strings.ContainsAny(m.FSType, " \t\n\r\\,") {
		return fmt.Errorf("fstype %s is not a filesystem type such as ext4", decode.Quote(m.FSType))
	}
	if strings.ContainsAny(m.Opts, " \t") {
		return fmt.Errorf("opts %s: separate options with commas, not spaces", decode.Quote(m.Opts))
	}
	if m.Dump < 0 || m.Passno < 0 {
		return errors.New("dump and passno must be 0 or more")
	}
	return nil
}

// want is the fstab line asked for; nil when the line should go, or fstab
// is left alone (ok false).
func (m *Mount) want() (e *entry, ok bool) {
	switch {
	case m.State == "absent":
		return nil, true
	case m.State == "remounted", m.Src == "":
		return nil, false
	}
	return &entry{m.Src, m.Path, m.FSType, m.Opts, fmt.Sprint(m.Dump), fmt.Sprint(m.Passno)}, true
}

func (m *Mount) bind() bool { return hasOpt(m.Opts, "bind") || hasOpt(m.Opts, "rbind") }

// Check reads fstab and /proc/self/mountinfo.
func (m *Mount) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c := &tasks.Change{}
	var fstab *tasks.Change
	if want, ok := m.want(); ok {
		var err error
		if fstab, err = hostfile.Edit(ctx, h, m.Fstab, func(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
			return m.planFstab(ctx, h, want)
		}); err != nil {
			return nil, err
		}
		c.Summary, c.Diff = fstab.Summary, fstab.Diff
	}
	st, err := m.inspect(ctx, h)
	if err != nil {
		return nil, err
	}
	cur := at(st.mounts, m.Path)
	c.Result = map[string]any{"mounted": cur != nil}
	var steps []string // commands, in order, after the fstab edit
	fstabChanged := fstab.Changed()
	if fstabChanged && m.Fstab == "/etc/fstab" {
		// systemd makes mount units from fstab: without a reload it
		// mounts by the old line, and mount(8) warns so.
		steps = append(steps, "if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi")
	}
	mountCmd := fmt.Sprintf("mount --fstab %s -- %s", tasks.Quote(m.Fstab), tasks.Quote(m.Path))
	umountCmd := "umount -- " + tasks.Quote(m.Path)
	switch m.State {
	case "mounted":
		same, err := m.same(ctx, h, cur, st)
		if err != nil {
			return nil, err
		}
		switch {
		case cur == nil:
			if !st.dir {
				c.Summary = append(c.Summary, "+ directory "+m.Path)
				steps = append(steps, "mkdir -p -- "+tasks.Quote(m.Path))
			}
			c.Summary = append(c.Summary, fmt.Sprintf("+ mount %s on %s (%s)", m.Src, m.Path, m.FSType))
			steps = append(steps, mountCmd)
		case !same:
			c.Summary = append(c.Summary, fmt.Sprintf("~ mounted on %s: %s (%s) -> %s (%s)", m.Path, cur.shown(), cur.fstype, m.Src, m.FSType))
			steps = append(steps, umountCmd, mountCmd)
		case fstabChanged || hasOpt(m.Opts, "ro") != hasOpt(cur.opts, "ro"):
			c.Summary = append(c.Summary, fmt.Sprintf("~ remount %s with %s", m.Path, m.Opts))
			steps = append(steps, fmt.Sprintf("mount --fstab %s -o remount -- %s", tasks.Quote(m.Fstab), tasks.Quote(m.Path)))
		}
	case "unmounted", "absent":
		if cur != nil {
			c.Summary = append(c.Summary, fmt.Sprintf("- unmount %s (%s)", m.Path, cur.shown()))
			steps = append(steps, umountCmd)
		}
	case "remounted":
		if cur == nil {
			return nil, tasks.DependsOnEarlier(fmt.Errorf("%s is not mounted: nothing to remount", m.Path))
		}
		c.Summary = append(c.Summary, "~ remount "+m.Path)
		opts := "remount"
		if m.Opts != "defaults" {
			opts += "," + m.Opts
		}
		steps = append(steps, fmt.Sprintf("mount -o %s -- %s", tasks.Quote(opts), tasks.Quote(m.Path)))
	}
	if len(c.Summary) == 0 {
		return c, nil
	}
	mounted := m.State == "mounted" || m.State == "remounted" || m.State == "present" && cur != nil
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		if fstabChanged {
			if _, err := fstab.Apply(ctx); err != nil {
				return tasks.Done{}, err
			}
		}
		for _, cmd := range steps {
			if err := tasks.RunOK(ctx, h.Conn, cmd); err != nil {
				return tasks.Done{}, fmt.Errorf("%s on %s: %w", m.State, m.Path, err)
			}
		}
		return tasks.Done{Result: map[string]any{"mounted": mounted}}, nil
	}
	return c, nil
}

// planFstab reads the fstab and plans writing the line asked for.
func (m *Mount) planFstab(ctx context.Context, h *tasks.Host, want *entry) (*tasks.Change, error) {
	fi, data, err := hostfile.Read(ctx, h.Conn, m.Fstab, maxFstab)
	if err != nil {
		return nil, err
	}
	if !fi.Exists && want == nil {
		return tasks.NoChange(), nil
	}
	edited := edit(string(data), m.Path, want)
	if fi.Exists && edited == string(data) {
		return tasks.NoChange(), nil
	}
	return hostfile.PlanAt(ctx, h, hostfile.Spec{Path: m.Fstab, Content: hostfile.Bytes([]byte(edited))}, fi)
}

// state is what the host says, read in one command.
type state struct {
	mounts []mounted
	dir    bool   // the mount point is a directory
	src    string // src resolved: the device a UUID= names, a path without symlinks; "" when it names nothing
}

const inspectScript = `cat /proc/self/mountinfo || exit 1
echo rb-sep
case $src in
UUID=*|LABEL=*|PARTUUID=*|PARTLABEL=*) findfs "$src" 2>/dev/null ;;
/*) realpath -e -- "$src" 2>/dev/null ;;
esac
echo rb-sep
if [ -d "$dir" ]; then echo dir; fi
`

func (m *Mount) inspect(ctx context.Context, h *tasks.Host) (*state, error) {
	script := "src=" + tasks.Quote(m.Src) + "\ndir=" + tasks.Quote(m.Path) + "\n" + inspectScript
	res, err := h.Conn.Run(ctx, script, nil)
	if err != nil {
		return nil, fmt.Errorf("read the mounts: %w", err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("read the mounts: %s", res.Failure())
	}
	parts := strings.Split(string(res.Stdout), "rb-sep\n")
	if len(parts) != 3 {
		return nil, fmt.Errorf("read the mounts: unexpected output %q", res.Stdout)
	}
	ms, err := parseMountinfo(parts[0])
	if err != nil {
		return nil, err
	}
	return &state{mounts: ms, src: strings.TrimSpace(parts[1]), dir: strings.TrimSpace(parts[2]) == "dir"}, nil
}

// same reports whether cur is the filesystem asked for.
func (m *Mount) same(ctx context.Context, h *tasks.Host, cur *mounted, st *state) (bool, error) {
	if cur == nil {
		return false, nil
	}
	if m.bind() {
		// A bind mount shows the filesystem that holds src and the
		// directory of it mounted: compare both.
		if st.src == "" {
			return false, nil
		}
		holder, inside := containing(st.mounts, st.src)
		return holder != nil && holder.dev == cur.dev && inside == cur.root, nil
	}
	if cur.fstype != m.FSType {
		return false, nil
	}
	if cur.source == m.Src || st.src != "" && cur.source == st.src {
		return true, nil
	}
	if st.src == "" || !strings.HasPrefix(cur.source, "/") {
		return false, nil
	}
	// The kernel may name the device otherwise (/dev/mapper/x for
	// /dev/dm-0).
	res, err := h.Conn.Run(ctx, "realpath -e -- "+tasks.Quote(cur.source), nil)
	if err != nil {
		return false, fmt.Errorf("resolve %s: %w", cur.source, err)
	}
	return res.OK() && strings.TrimSpace(string(res.Stdout)) == st.src, nil
}

// shown is what is mounted, as a person would name it.
func (m *mounted) shown() string {
	if m.root != "/" {
		return m.source + "[" + m.root + "]"
	}
	return m.source
}
