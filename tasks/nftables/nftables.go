// Package nftables is the `nftables` task: one nftables table on the
// host, declared whole. What the table should hold is the desired state;
// a rule added by hand is drift, and other tables (Docker's, the
// distribution's) are left alone.
package nftables

import (
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/aymanbagabas/go-udiff"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/hostfile"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "nftables",
		Doc: "One nftables table, declared whole: its chains, sets and rules in nft syntax. Check mode compares the " +
			"running table (nft list table) with the wanted one as nft itself writes it (loaded into a throwaway network " +
			"namespace on the host, so it is never guessed and never touches the host's network); a rule added or changed " +
			"by hand is drift. Apply replaces the table in one atomic nft transaction; other tables are left alone. " +
			"A ruleset that would cut SSH is refused: before the change a rollback to the table as it was is armed on the " +
			"host; after it, the connection runbook uses must still run a command and a new SSH connection from the " +
			"controller must still be accepted, else the table is put back and the step fails (allow_ssh_cut: true " +
			"skips this). With file, the same table is written there (checked with nft -c) to load at boot. " +
			"Match interfaces by name (iifname \"eth0\"), not by index (iif), except lo: the throwaway namespace has no other interface.",
		New: func() tasks.Task { return new(Table) },
	})
}

// Table is the `nftables` task's parameters.
type Table struct {
	Name    string        `yaml:"table" required:"true" doc:"the table's name, e.g. runbook"`
	Family  string        `yaml:"family" doc:"ip, ip6, inet (default), arp, bridge or netdev"`
	Content string        `yaml:"content" doc:"what the table holds, in nft syntax (chain input { type filter hook input priority filter; policy drop; ... }); required with state: present"`
	State   string        `yaml:"state" doc:"present (default) or absent (the table deleted)"`
	File    string        `yaml:"file" doc:"also write the table to this file (e.g. /etc/nftables.d/runbook.nft, for /etc/nftables.conf to include at boot), 0600 root, checked with nft -c before it is moved into place"`
	Confirm time.Duration `yaml:"confirm_timeout" doc:"how long after a change the table is put back unless runbook confirmed SSH still works; default 30s"`
	// AllowSSHCut skips the SSH check, for a ruleset meant to shut the
	// controller out (its last run) or a host reached another way.
	AllowSSHCut bool `yaml:"allow_ssh_cut" doc:"apply a ruleset even if it cuts SSH from the controller; default false"`
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	// tableStatement is a statement about tables, which content (what is
	// inside one table) must not hold.
	tableStatement = regexp.MustCompile(`(?m)^\s*(table|flush|delete|add\s+table)\b`)
)

// Provision sets the defaults.
func (t *Table) Provision() error {
	if t.Family == "" {
		t.Family = "inet"
	}
	if t.Confirm == 0 {
		t.Confirm = 30 * time.Second
	}
	return nil
}

// Validate checks the parameters. The content's syntax is nft's to judge,
// on the host (Check).
func (t *Table) Validate() error {
	if !nameRE.MatchString(t.Name) {
		return fmt.Errorf("table %s: a name is letters, digits and _, starting with a letter or _", decode.Quote(t.Name))
	}
	switch t.Family {
	case "ip", "ip6", "inet", "arp", "bridge", "netdev":
	default:
		return fmt.Errorf("family %s: want ip, ip6, inet, arp, bridge or netdev", decode.Quote(t.Family))
	}
	switch t.State {
	case "", "present":
		if strings.TrimSpace(t.Content) == "" {
			return errors.New("content: give the table's chains and rules (or state: absent to delete it)")
		}
	case "absent":
		if t.Content != "" || t.File != "" {
			return errors.New("state: absent deletes the table: remove content and file")
		}
	default:
		return fmt.Errorf("state must be present or absent, got %s", decode.Quote(t.State))
	}
	// A table of its own inside the content would be loaded beside ours.
	if tableStatement.MatchString(t.Content) {
		return errors.New("content: give what is inside the table (chains, sets, rules), not table, flush or delete statements")
	}
	if t.File != "" && !path.IsAbs(t.File) {
		return fmt.Errorf("file %s must be absolute", decode.Quote(t.File))
	}
	if t.Confirm < 5*time.Second {
		return fmt.Errorf("confirm_timeout %s: give at least 5s, time for runbook to reach the host again", t.Confirm)
	}
	return nil
}

func (t *Table) id() string { return t.Family + " " + t.Name }

// define is the table as an nft script that replaces it whole in one
// transaction: made if missing (so delete cannot fail), deleted, made
// anew with the content.
func (t *Table) define(content string) string {
	return fmt.Sprintf("table %s\ndelete table %s\ntable %s {\n%s\n}\n", t.id(), t.id(), t.id(), strings.TrimRight(content, "\n"))
}

// Check reads the running table and the wanted one as nft writes it.
func (t *Table) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	now, exists, err := t.running(ctx, h.Conn)
	if err != nil {
		return nil, err
	}
	if t.State == "absent" {
		if !exists {
			return tasks.NoChange(), nil
		}
		c := &tasks.Change{Summary: []string{"- table " + t.id()}}
		c.Apply = func(ctx context.Context) (tasks.Done, error) {
			return tasks.Done{}, t.run(ctx, h.Conn, "nft -f -", "table "+t.id()+"\ndelete table "+t.id()+"\n")
		}
		return c, nil
	}
	want, err := t.canonical(ctx, h.Conn)
	if err != nil {
		return nil, err
	}
	c := &tasks.Change{}
	var file *tasks.Change
	if t.File != "" {
		mode := hostfile.Mode(0o600)
		file, err = hostfile.Plan(ctx, h, hostfile.Spec{
			Path: t.File, Content: hostfile.Bytes([]byte(t.define(t.Content))), Mode: &mode, Owner: "root", Group: "root",
			Validate: "nft -c -f %s",
		})
		if err != nil {
			return nil, err
		}
		if file.Changed() {
			c.Summary = append(c.Summary, file.Summary...)
			c.Diff = file.Diff
		}
	}
	ruleset := !exists || now != want
	if ruleset {
		if !exists {
			c.Summary = append([]string{"+ table " + t.id()}, c.Summary...)
		} else {
			c.Summary = append([]string{"~ table " + t.id() + ": " + changedLines(now, want)}, c.Summary...)
		}
		if h.Diff {
			c.Diff = udiff.Unified(t.id()+" (host)", t.id()+" (wanted)", now, want) + c.Diff
		}
	}
	if !ruleset && !file.Changed() {
		return c, nil
	}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		if file.Changed() {
			if _, err := file.Apply(ctx); err != nil {
				return tasks.Done{}, err
			}
		}
		if ruleset {
			return tasks.Done{}, t.replace(ctx, h, now, exists)
		}
		return tasks.Done{}, nil
	}
	return c, nil
}

// running is the table as the host runs it, as nft writes it.
func (t *Table) running(ctx context.Context, c tasks.Conn) (string, bool, error) {
	res, err := c.Run(ctx, "command -v nft >/dev/null || { echo 'nft: not installed: install the nftables package first' >&2; exit 127; }; nft list table "+t.id(), nil)
	if err != nil {
		return "", false, err
	}
	switch {
	case res.OK():
		return string(res.Stdout), true, nil
	case res.Code == 127:
		return "", false, tasks.DependsOnEarlier(errors.New(strings.TrimSpace(string(res.Stderr))))
	case strings.Contains(string(res.Stderr), "No such file or directory"):
		return "", false, nil
	}
	return "", false, fmt.Errorf("read table %s: %s", t.id(), res.Failure())
}

// canonical is the wanted table as nft writes it: loaded into a network
// namespace of its own on the host, which lives as long as the command,
// and listed from there. The host's own ruleset is not touched.
func (t *Table) canonical(ctx context.Context, c tasks.Conn) (string, error) {
	res, err := c.Run(ctx, "exec unshare --net sh -c 'nft -f - && nft list table "+t.id()+"'", strings.NewReader(t.define(t.Content)))
	if err != nil {
		return "", err
	}
	if !res.OK() {
		msg := strings.TrimSpace(string(res.Stderr))
		if strings.Contains(msg, "unshare") {
			return "", fmt.Errorf("table %s: cannot load it into a throwaway network namespace to compare (%s): runbook needs root (CAP_SYS_ADMIN) on the host", t.id(), msg)
		}
		// nft's own message points into the script: line 4 is the
		// content's first.
		return "", fmt.Errorf("table %s: nft refuses the content (its line N is the script's line N+3):\n%s", t.id(), msg)
	}
	return string(res.Stdout), nil
}

// changedLines says how many lines differ, for the summary.
func changedLines(now, want string) string {
	a, b := map[string]int{}, map[string]int{}
	for _, l := range strings.Split(now, "\n") {
		a[strings.TrimSpace(l)]++
	}
	for _, l := range strings.Split(want, "\n") {
		b[strings.TrimSpace(l)]++
	}
	var add, del int
	for l, n := range b {
		add += max(n-a[l], 0)
	}
	for l, n := range a {
		del += max(n-b[l], 0)
	}
	return fmt.Sprintf("%d lines added, %d removed", add, del)
}

func (t *Table) run(ctx context.Context, c tasks.Conn, cmd, stdin string) error {
	res, err := c.Run(ctx, cmd, strings.NewReader(stdin))
	if err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("table %s: %s", t.id(), res.Failure())
	}
	return nil
}

// rollbackDir holds the armed rollbacks: root's only.
const rollbackDir = "/run/runbook-nftables"

// replace loads the table, with a rollback armed on the host first unless
// SSH may be cut: the host puts the old table back by itself after
// Confirm unless runbook, having reached it again, disarms it.
func (t *Table) replace(ctx context.Context, h *tasks.Host, old string, existed bool) error {
	script := t.define(t.Content)
	if t.AllowSSHCut {
		return t.run(ctx, h.Conn, "nft -f -", script)
	}
	back := "table " + t.id() + "\ndelete table " + t.id() + "\n"
	if existed {
		back += old
	}
	// The rollback script is written by the module (mode 0600, in a 0700
	// directory of root's), then a detached shell sleeps and loads it;
	// its process group is what disarming kills.
	arm := fmt.Sprintf(`set -e
umask 077
mkdir -p %[1]s && chmod 0700 %[1]s
f=$(mktemp %[1]s/rollback.XXXXXX)
cat > "$f"
setsid sh -c 'sleep %[2]d; nft -f "$1"; rm -f "$1"' rollback "$f" </dev/null >/dev/null 2>&1 &
echo "$! $f"
`, rollbackDir, int(t.Confirm.Seconds()))
	res, err := h.Conn.Run(ctx, arm, strings.NewReader(back))
	if err != nil {
		return err
	}
	if !res.OK() {
		return fmt.Errorf("arm the rollback of table %s: %s", t.id(), res.Failure())
	}
	var pid int
	var file string
	if _, err := fmt.Sscanf(string(res.Stdout), "%d %s", &pid, &file); err != nil {
		return fmt.Errorf("arm the rollback of table %s: unexpected answer %q", t.id(), res.Stdout)
	}
	disarm := fmt.Sprintf("kill -TERM -- -%d 2>/dev/null; rm -f %s", pid, tasks.Quote(file))
	if err := t.run(ctx, h.Conn, "nft -f -", script); err != nil {
		// Not loaded: nothing to put back.
		h.Conn.Run(ctx, disarm, nil)
		return err
	}
	why := sshStillWorks(ctx, h.Conn)
	if why == nil {
		if err := t.run(ctx, h.Conn, disarm, ""); err != nil {
			return fmt.Errorf("table %s loaded, but disarming its rollback failed (it will be put back in %s): %w", t.id(), t.Confirm, err)
		}
		return nil
	}
	// Put back now if the connection still carries commands; else the
	// host does it when the rollback wakes.
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := t.run(pctx, h.Conn, "nft -f "+tasks.Quote(file)+" && "+disarm, ""); err != nil {
		return fmt.Errorf("table %s refused: it cuts SSH (%v); the host puts the table as it was back within %s (set allow_ssh_cut: true to apply it anyway)", t.id(), why, t.Confirm)
	}
	return fmt.Errorf("table %s refused: it cuts SSH (%v); the table as it was is back (set allow_ssh_cut: true to apply it anyway)", t.id(), why)
}

// sshStillWorks checks, after a change, the connection runbook uses (a
// command through it) and a new connection from the controller to the
// host's SSH port (the banner), when the controller is the SSH client (not
// through a bastion, whose address the host sees).
func sshStillWorks(ctx context.Context, c tasks.Conn) error {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := c.Run(pctx, `printf '%s' "$SSH_CONNECTION"`, nil)
	if err != nil || !res.OK() {
		return fmt.Errorf("the connection runbook uses no longer carries commands: %v", cmdErr(err, res))
	}
	f := strings.Fields(string(res.Stdout))
	if len(f) != 4 || !local(f[0]) {
		return nil // a local connection, or through a bastion: checked what can be
	}
	addr := net.JoinHostPort(f[2], f[3])
	conn, err := (&net.Dialer{}).DialContext(pctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("a new SSH connection to %s is not accepted: %w", addr, err)
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	banner := make([]byte, 4)
	if _, err := conn.Read(banner); err != nil || string(banner) != "SSH-" {
		return fmt.Errorf("a new SSH connection to %s gets no SSH banner: %v", addr, err)
	}
	return nil
}

func cmdErr(err error, res tasks.Result) string {
	if err != nil {
		return err.Error()
	}
	return res.Failure()
}

// local says whether ip is one of the controller's addresses: then the
// controller is the SSH client the host sees.
func local(ip string) bool {
	p := net.ParseIP(ip)
	if p == nil || p.IsLoopback() {
		return false
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(p) {
			return true
		}
	}
	return false
}
