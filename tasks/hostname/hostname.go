// Package hostname is the `hostname` task: the host's name, in the three
// places it lives (/etc/hostname, the running kernel, the 127.0.1.1 line
// of /etc/hosts).
package hostname

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
	"github.com/runbookdev/runbook/tasks/line"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "hostname",
		Doc: "The host's static name: /etc/hostname, the running name (hostnamectl where systemd runs, hostname(1) " +
			"elsewhere) and, with update_hosts, the 127.0.1.1 line of /etc/hosts as Debian's installer writes it " +
			"(`127.0.1.1 NAME`, or `127.0.1.1 FQDN SHORT` for a dotted name), so that the name resolves without DNS. " +
			"Check mode reads all three; a name changed by hand in any is drift.",
		New: func() tasks.Task { return new(Hostname) },
	})
}

// Hostname is the `hostname` task's parameters.
type Hostname struct {
	Name string `yaml:"name" required:"true" doc:"the name: letters, digits and - in labels of at most 63, dotted for a fully qualified name (web01 or web01.example.com), at most 64 in all"`
	// UpdateHosts false leaves /etc/hosts to another step (a template of
	// the whole file, or DNS only).
	UpdateHosts *bool `yaml:"update_hosts" doc:"also set the 127.0.1.1 line of /etc/hosts; default true"`
}

// label is one label of a host name (RFC 1123): no - at either end.
var label = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$`)

// maxLen is the kernel's HOST_NAME_MAX: a longer name cannot run.
const maxLen = 64

// Validate refuses a name that is no host name.
func (n *Hostname) Validate() error {
	if n.Name == "" || len(n.Name) > maxLen {
		return fmt.Errorf("name %s: a host name has 1 to %d characters", decode.Quote(n.Name), maxLen)
	}
	for _, l := range strings.Split(n.Name, ".") {
		if !label.MatchString(l) {
			return fmt.Errorf("name %s is not a host name: write labels of letters, digits and - (not at either end), joined by dots, such as web01 or web01.example.com", decode.Quote(n.Name))
		}
	}
	return nil
}

// hostsLine is the 127.0.1.1 line Debian's installer writes.
func (n *Hostname) hostsLine() string {
	if short, _, dotted := strings.Cut(n.Name, "."); dotted {
		return "127.0.1.1\t" + n.Name + "\t" + short
	}
	return "127.0.1.1\t" + n.Name
}

func (n *Hostname) hosts() (*line.Line, error) {
	l := &line.Line{
		Path:        "/etc/hosts",
		Line:        n.hostsLine(),
		Regexp:      `^\s*127\.0\.1\.1\s`,
		InsertAfter: `^\s*127\.0\.0\.1\s`,
		Create:      true,
	}
	return l, tasks.Prepare(l)
}

// Check reads /etc/hostname, the running name and /etc/hosts.
func (n *Hostname) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	const file = "/etc/hostname"
	fi, data, err := hostfile.Read(ctx, h.Conn, file, 4096)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	c := &tasks.Change{}
	var static *tasks.Change
	if strings.TrimSpace(string(data)) != n.Name || !fi.Exists {
		static, err = hostfile.PlanAt(ctx, h, hostfile.Spec{Path: file, Content: hostfile.Bytes([]byte(n.Name + "\n"))}, fi)
		if err != nil {
			return nil, err
		}
		c.Summary, c.Diff = append(c.Summary, static.Summary...), static.Diff
	}
	res, err := h.Conn.Run(ctx, "uname -n", nil)
	if err != nil {
		return nil, fmt.Errorf("read the running host name: %w", err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("read the running host name: %s", res.Failure())
	}
	running := strings.TrimSpace(string(res.Stdout))
	c.Result = map[string]any{"hostname": running}
	if running != n.Name {
		c.Summary = append(c.Summary, fmt.Sprintf("~ running host name %s -> %s", running, n.Name))
	}
	var hosts *tasks.Change
	if n.UpdateHosts == nil || *n.UpdateHosts {
		edit, err := n.hosts()
		if err != nil {
			return nil, err
		}
		if hosts, err = edit.Check(ctx, h); err != nil {
			return nil, err
		}
		if hosts.Changed() {
			c.Summary = append(c.Summary, hosts.Summary...)
			c.Diff += hosts.Diff
		}
	}
	if len(c.Summary) == 0 {
		return c, nil
	}
	setRunning := running != n.Name || static.Changed()
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		if static.Changed() {
			if _, err := static.Apply(ctx); err != nil {
				return tasks.Done{}, err
			}
		}
		if setRunning {
			if err := tasks.RunOK(ctx, h.Conn, setCommand(n.Name)); err != nil {
				return tasks.Done{}, fmt.Errorf("set the running host name to %s: %w", n.Name, err)
			}
		}
		if hosts.Changed() {
			if _, err := hosts.Apply(ctx); err != nil {
				return tasks.Done{}, err
			}
		}
		return tasks.Done{Result: map[string]any{"hostname": n.Name}}, nil
	}
	return c, nil
}

// setCommand sets the running name. Where systemd runs, hostnamed is told
// (it also keeps /etc/hostname, written already, and tells its watchers);
// elsewhere the kernel is.
func setCommand(name string) string {
	q := tasks.Quote(name)
	return fmt.Sprintf(`if [ -d /run/systemd/system ] && command -v hostnamectl >/dev/null; then exec hostnamectl set-hostname %[1]s
elif command -v hostname >/dev/null; then exec hostname %[1]s
else exec sysctl -q -w kernel.hostname=%[1]s; fi`, q)
}
