// Package systemd is the `systemd` task: a unit's file, whether it starts
// at boot, and whether it runs.
package systemd

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
	"github.com/runbookdev/runbook/tasks/template"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "systemd",
		Doc: "A systemd unit: its file (optional, in /etc/systemd/system, given as content or rendered from a template file on the controller, with daemon-reload when it changes), " +
			"enabled or disabled at boot, started, stopped, restarted or reloaded, and masked or not. A running unit whose file changed is restarted. " +
			"A template unit (getty@) takes a file and enabled; its instances (getty@tty2) are enabled and started by name. " +
			"When a unit does not start, the step fails with the end of its journal.",
		New: func() tasks.Task { return new(Systemd) },
	})
}

// Systemd is the `systemd` task's parameters.
type Systemd struct {
	Name    string  `yaml:"name" required:"true" doc:"the unit, e.g. consul or consul.service; a template unit is named with its empty instance (getty@ or getty@.service), one of its instances in full (getty@tty2)"`
	Content *string `yaml:"content" doc:"the unit file's content, written to /etc/systemd/system/NAME"`
	Src     string  `yaml:"src" doc:"a template file on the controller (relative to the runbook's directory) rendered with the host's variables, as template renders it, for the unit file's content; instead of content"`
	Enabled *bool   `yaml:"enabled" doc:"start at boot (true) or not (false); default: left alone"`
	State   string  `yaml:"state" doc:"started, stopped, restarted (always, so: for handlers) or reloaded; default: left alone"`
	Masked  *bool   `yaml:"masked" doc:"masked (true: /etc/systemd/system/NAME is a link to /dev/null, as systemctl mask makes it, and nothing can start the unit; with state: stopped a running unit is stopped too) or not (false: its mask removed, a runtime one in /run too); default: left alone"`
}

// Validate checks the parameters.
func (s *Systemd) Validate() error {
	if strings.ContainsAny(s.Name, "/ '\"") || s.Name == "" {
		return fmt.Errorf("name %s is not a unit name", decode.Quote(s.Name))
	}
	switch s.State {
	case "", "started", "stopped", "restarted", "reloaded":
	default:
		return fmt.Errorf("state must be started, stopped, restarted or reloaded, got %s", decode.Quote(s.State))
	}
	if s.Masked != nil && *s.Masked {
		switch {
		case s.Content != nil || s.Src != "":
			return fmt.Errorf("a unit given its file (content or src) cannot be masked in the same step: the mask is a link to /dev/null at %s, where the file would go; drop content or src, or masked", s.path())
		case s.State != "" && s.State != "stopped":
			return fmt.Errorf("a masked unit cannot be %s: write state: stopped, or leave state out", s.State)
		case s.Enabled != nil && *s.Enabled:
			return errors.New("a masked unit cannot be enabled: write enabled: false, or leave enabled out")
		}
	}
	if s.Content != nil && s.Src != "" {
		return errors.New("src and content are two ways to give the unit file: keep one")
	}
	if s.template() && s.State != "" {
		prefix, _, _ := strings.Cut(s.unit(), "@")
		return fmt.Errorf("%s is a template unit, which never runs itself: give state to one of its instances, e.g. name: %s@one", s.unit(), prefix)
	}
	return nil
}

// template reports whether the unit is a template (getty@.service), which
// systemd knows only as a file: `systemctl show` refuses its name.
func (s *Systemd) template() bool {
	u := s.unit()
	return strings.HasSuffix(u[:strings.LastIndex(u, ".")], "@")
}

// unitTypes are the suffixes systemd knows; a name without one is a
// service, as systemctl takes it (openvpn@client.conf is a service).
var unitTypes = []string{".service", ".socket", ".timer", ".target", ".mount", ".automount", ".swap", ".path", ".slice", ".scope", ".device"}

func (s *Systemd) unit() string {
	if slices.ContainsFunc(unitTypes, func(t string) bool { return strings.HasSuffix(s.Name, t) }) {
		return s.Name
	}
	return s.Name + ".service"
}

func (s *Systemd) path() string { return "/etc/systemd/system/" + s.unit() }

// ControllerFiles is src, when given.
func (s *Systemd) ControllerFiles() []tasks.ControllerFile {
	if s.Src == "" {
		return nil
	}
	return []tasks.ControllerFile{{Param: "src", Path: s.Src, Template: true}}
}

// content is the unit file asked for, nil when it is left alone.
func (s *Systemd) content(ctx context.Context, h *tasks.Host) ([]byte, error) {
	switch {
	case s.Src != "":
		return template.Render(ctx, h, s.Src)
	case s.Content != nil:
		return []byte(*s.Content), nil
	}
	return nil, nil
}

// status is what the host says of the unit.
type status struct {
	UnitState
	sha string // of the unit file we manage, "" if missing
	etc string // what is at path(): "file", "link:TARGET" or ""
}

// UnitState is what systemd says of a unit (see ShowState).
type UnitState struct {
	Load     string // LoadState: loaded, not-found, masked, ...
	Active   string // ActiveState: active, inactive, failed, ...
	UnitFile string // UnitFileState: enabled, disabled, static, ...
}

// ShowState is the systemctl command that prints a unit's UnitState, for
// ParseState.
func ShowState(unit string) string {
	return "systemctl show -p LoadState,ActiveState,UnitFileState " + tasks.Quote(unit)
}

// ParseState reads systemctl show's KEY=VALUE lines: the unit's state,
// and the value of each other key in extra. No LoadState means systemctl
// said nothing of the unit.
func ParseState(out []byte, extra map[string]*string) (UnitState, error) {
	var st UnitState
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, "=")
		switch k {
		case "LoadState":
			st.Load = v
		case "ActiveState":
			st.Active = v
		case "UnitFileState":
			st.UnitFile = v
		default:
			if p, ok := extra[k]; ok {
				*p = v
			}
		}
	}
	if st.Load == "" {
		return st, errors.New("systemctl gave no state: is systemd running on this host?")
	}
	return st, nil
}

// Check asks systemd (one command) and compares.
func (s *Systemd) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	content, err := s.content(ctx, h)
	if err != nil {
		return nil, err
	}
	st, err := s.status(ctx, h, content != nil)
	if err != nil {
		return nil, err
	}
	c := &tasks.Change{Result: map[string]any{"active_state": st.Active, "unit_file_state": st.UnitFile}}
	var steps []string // shell commands, in order
	fileChanged := false
	if content != nil {
		sum := sha256.Sum256(content)
		if want := hex.EncodeToString(sum[:]); st.sha != want {
			fileChanged = true
			if st.sha == "" {
				c.Summary = append(c.Summary, "+ create "+s.path())
			} else {
				c.Summary = append(c.Summary, "~ content "+s.path())
			}
			if h.Diff {
				fi := &hostfile.Info{Exists: st.sha != ""}
				if fi.Exists {
					fi.Size = 1 // read it for the diff
				}
				if c.Diff, err = hostfile.Diff(ctx, h.Conn, s.path(), fi, content); err != nil {
					return nil, err
				}
			}
		}
	} else if st.Load == "not-found" && (s.Masked == nil || !*s.Masked) {
		// A unit not installed can be masked, before a package brings it.
		return nil, tasks.DependsOnEarlier(fmt.Errorf("unit %s is not installed: give its content (or src), or install the package that has it first", s.unit()))
	}
	masking, unmasking := false, false
	if s.Masked != nil {
		// masked-runtime goes at reboot: only a mask in /etc (or one a
		// package ships) is a mask. With both, systemd says masked.
		switch isMasked := strings.HasPrefix(st.UnitFile, "masked"); {
		case *s.Masked && st.UnitFile != "masked":
			if st.etc != "" && st.etc != "link:/dev/null" {
				return nil, tasks.DependsOnEarlier(fmt.Errorf("%s is a unit file (or a link to one) where the mask would go: systemctl mask refuses to replace it; remove it first (a file step with state: absent), then mask", s.path()))
			}
			c.Summary = append(c.Summary, fmt.Sprintf("~ mask (is %s)", orNone(st.UnitFile)))
			masking = true
		case !*s.Masked && isMasked:
			c.Summary = append(c.Summary, fmt.Sprintf("~ unmask (is %s)", st.UnitFile))
			unmasking = true
		}
	}
	if s.Enabled != nil {
		// As `systemctl is-enabled` exits 0: indirect is a template with
		// an instance enabled, or a unit enabled through another (Also=).
		enabled := slices.Contains([]string{"enabled", "enabled-runtime", "static", "alias", "indirect", "generated"}, st.UnitFile)
		switch {
		case *s.Enabled && !enabled:
			c.Summary = append(c.Summary, fmt.Sprintf("~ enable (is %s)", orNone(st.UnitFile)))
			steps = append(steps, "systemctl enable -q "+tasks.Quote(s.unit()))
		case !*s.Enabled && unmasking:
			// What the mask hid is known only once it is gone.
			c.Summary = append(c.Summary, "~ disable (is masked)")
			steps = append(steps, "systemctl disable -q "+tasks.Quote(s.unit()))
		case !*s.Enabled && st.UnitFile == "enabled":
			c.Summary = append(c.Summary, "~ disable")
			steps = append(steps, "systemctl disable -q "+tasks.Quote(s.unit()))
		}
	}
	running := st.Active == "active" || st.Active == "activating" || st.Active == "reloading"
	start := false
	switch s.State {
	case "started":
		if !running {
			c.Summary = append(c.Summary, fmt.Sprintf("~ start (is %s)", st.Active))
			start = true
		} else if fileChanged {
			c.Summary = append(c.Summary, "~ restart: its unit file changed")
			steps = append(steps, "systemctl restart "+tasks.Quote(s.unit()))
			start = true
		}
	case "stopped":
		if running {
			c.Summary = append(c.Summary, "~ stop")
			steps = append(steps, "systemctl stop "+tasks.Quote(s.unit()))
		}
	case "restarted":
		c.Summary = append(c.Summary, "~ restart")
		steps = append(steps, "systemctl restart "+tasks.Quote(s.unit()))
		start = true
	case "reloaded":
		c.Summary = append(c.Summary, "~ reload")
		steps = append(steps, "systemctl reload-or-restart "+tasks.Quote(s.unit()))
		start = true
	}
	if start && !running && s.State == "started" {
		steps = append(steps, "systemctl start "+tasks.Quote(s.unit()))
	}
	if masking {
		// After a stop: systemctl mask leaves a running unit running.
		steps = append(steps, "systemctl mask -q "+tasks.Quote(s.unit()))
	}
	if !fileChanged && !unmasking && len(steps) == 0 {
		return c, nil
	}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		if unmasking {
			if err := s.unmask(ctx, h); err != nil {
				return tasks.Done{}, err
			}
		}
		if fileChanged {
			if err := h.Conn.WriteFile(ctx, s.path(), bytes.NewReader(content), hostfile.Attrs(0o644)); err != nil {
				return tasks.Done{}, err
			}
			if err := tasks.RunOK(ctx, h.Conn, "systemctl daemon-reload"); err != nil {
				return tasks.Done{}, err
			}
		}
		for _, cmd := range steps {
			res, err := h.Conn.Run(ctx, cmd, nil)
			if err != nil {
				return tasks.Done{}, err
			}
			if !res.OK() {
				return tasks.Done{}, s.failure(ctx, h, cmd, res.Failure())
			}
		}
		// Restarts counted before this start (a unit caught in a crash
		// loop, which the change may fix, keeps its count through a
		// restart by hand) are not held against it.
		restartsBefore := 0
		if start {
			res, err := h.Conn.Run(ctx, "systemctl show -p NRestarts --value "+tasks.Quote(s.unit()), nil)
			if err != nil {
				return tasks.Done{}, err
			}
			restartsBefore, _ = strconv.Atoi(strings.TrimSpace(string(res.Stdout)))
		}
		if start {
			// A service can start and die at once: give it a moment and
			// look, so the run does not report success over a crash loop.
			// NRestarts counts automatic restarts; systemd does not reset
			// it when a unit in a crash loop is restarted by hand. Any
			// since the change means it crashed, even if caught running.
			res, err := h.Conn.Run(ctx, "sleep 1; systemctl show -p ActiveState,SubState,NRestarts,Result "+tasks.Quote(s.unit()), nil)
			if err != nil {
				return tasks.Done{}, err
			}
			st := map[string]string{}
			for _, line := range strings.Split(strings.TrimSpace(string(res.Stdout)), "\n") {
				k, v, _ := strings.Cut(line, "=")
				st[k] = v
			}
			if st["ActiveState"] == "failed" || st["ActiveState"] == "inactive" || st["SubState"] == "auto-restart" ||
				restartsAfter(st["NRestarts"]) > restartsBefore || st["Result"] != "success" {
				return tasks.Done{}, s.failure(ctx, h, "start", fmt.Sprintf("after starting it is %s (%s), restarted %s times (%d before this start), result %s",
					st["ActiveState"], st["SubState"], st["NRestarts"], restartsBefore, st["Result"]))
			}
		}
		return tasks.Done{}, nil
	}
	return c, nil
}

// unmask removes the unit's masks in /etc and /run, and makes sure no
// other is left (a package's own, which systemctl cannot remove).
func (s *Systemd) unmask(ctx context.Context, h *tasks.Host) error {
	q := tasks.Quote(s.unit())
	if err := tasks.RunOK(ctx, h.Conn, fmt.Sprintf("systemctl unmask -q %[1]s && systemctl unmask -q --runtime %[1]s", q)); err != nil {
		return fmt.Errorf("unmask %s: %w", s.unit(), err)
	}
	res, err := h.Conn.Run(ctx, "systemctl is-enabled "+q+" 2>/dev/null; true", nil)
	if err != nil {
		return fmt.Errorf("unmask %s: %w", s.unit(), err)
	}
	if state := strings.TrimSpace(string(res.Stdout)); strings.HasPrefix(state, "masked") {
		return fmt.Errorf("unmask %s: still %s: its link to /dev/null is outside /etc/systemd/system and /run/systemd/system, where systemctl unmask does not look", s.unit(), state)
	}
	return nil
}

// restartsAfter reads NRestarts; what cannot be read counts as a crash.
func restartsAfter(v string) int {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return math.MaxInt
	}
	return n
}

func (s *Systemd) status(ctx context.Context, h *tasks.Host, managed bool) (*status, error) {
	script := ShowState(s.unit()) + "\n"
	if s.template() {
		// A template never loads nor runs; is-enabled reads its file's
		// state, and prints nothing when there is no such file.
		script = fmt.Sprintf("f=$(systemctl is-enabled %s 2>/dev/null)\n"+
			"case $f in '') echo LoadState=not-found;; masked*) echo LoadState=masked;; *) echo LoadState=loaded;; esac\n"+
			"echo UnitFileState=$f\n", tasks.Quote(s.unit()))
	}
	if s.Masked != nil && *s.Masked {
		script += fmt.Sprintf("if [ -L %[1]s ]; then echo etc=link:$(readlink %[1]s); elif [ -e %[1]s ]; then echo etc=file; fi\n", tasks.Quote(s.path()))
	}
	if managed {
		script += fmt.Sprintf("[ -f %[1]s ] && echo sha=$(sha256sum <%[1]s | cut -d' ' -f1)\ntrue\n", tasks.Quote(s.path()))
	}
	res, err := h.Conn.Run(ctx, script, nil)
	if err != nil {
		return nil, fmt.Errorf("ask systemd about %s: %w", s.unit(), err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("ask systemd about %s: %s", s.unit(), res.Failure())
	}
	st := &status{}
	if st.UnitState, err = ParseState(res.Stdout, map[string]*string{"sha": &st.sha, "etc": &st.etc}); err != nil {
		return nil, err
	}
	return st, nil
}

// failure explains why a unit did not do what it was told, with the end
// of its journal.
func (s *Systemd) failure(ctx context.Context, h *tasks.Host, what, why string) error {
	res, _ := h.Conn.Run(ctx, fmt.Sprintf("journalctl -u %s -n 15 --no-pager -o cat 2>&1", tasks.Quote(s.unit())), nil)
	return fmt.Errorf("%s %s: %s; its journal ends:\n%s", what, s.unit(), why, strings.TrimSpace(string(res.Stdout)))
}

func orNone(s string) string {
	if s == "" {
		return "not installed"
	}
	return s
}
