// Package reboot is the `reboot` task: reboots the host, waits until it is
// back (its boot id changed), and reconnects, so that the run goes on on it.
package reboot

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "reboot",
		Doc: "Reboots the host and waits until it is back: until a new connection reads another boot id " +
			"(/proc/sys/kernel/random/boot_id) and test_command succeeds on it; fails after reboot_timeout. " +
			"The run goes on on the same host, on the new connection. It always reboots, so check mode reports would change: " +
			"to reboot only when needed, make the step conditional with when: (e.g. on /var/run/reboot-required, registered with stat). " +
			"Registers elapsed (seconds), boot_id_before and boot_id_after.",
		New: func() tasks.Task { return new(Reboot) },
	})
}

// Reboot is the `reboot` task's parameters.
type Reboot struct {
	RebootTimeout   time.Duration `yaml:"reboot_timeout" doc:"how long the host may take to come back and pass test_command; default 10m"`
	ConnectTimeout  time.Duration `yaml:"connect_timeout" doc:"how long each attempt to connect again may take; default 20s"`
	PreRebootDelay  time.Duration `yaml:"pre_reboot_delay" doc:"how long the host waits before rebooting, in whole seconds; default 0"`
	PostRebootDelay time.Duration `yaml:"post_reboot_delay" doc:"how long to wait once the host is back before running test_command; default 0"`
	Msg             string        `yaml:"msg" doc:"message logged and shown to the host's users with the default reboot command; default: Reboot initiated by runbook"`
	TestCommand     string        `yaml:"test_command" doc:"command that must succeed on the host once it is back; default whoami"`
	RebootCommand   string        `yaml:"reboot_command" doc:"command that reboots the host, run detached from the connection; default systemctl reboot where systemd runs, else shutdown -r now"`
}

// Validate checks that msg goes with the default command and that the
// commands and delay can be run. (The decoder refuses negative durations.)
func (r *Reboot) Validate() error {
	if r.RebootCommand != "" && r.Msg != "" {
		return errors.New("msg is for the default reboot command: put the message in reboot_command, or leave reboot_command out")
	}
	if r.RebootCommand != "" && strings.TrimSpace(r.RebootCommand) == "" {
		return errors.New("reboot_command is blank: leave it out for the default")
	}
	if r.TestCommand != "" && strings.TrimSpace(r.TestCommand) == "" {
		return errors.New("test_command is blank: leave it out for the default (whoami)")
	}
	if r.PreRebootDelay%time.Second != 0 {
		return fmt.Errorf("pre_reboot_delay is in whole seconds (sleep on the host), got %s", r.PreRebootDelay)
	}
	return nil
}

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// bootID reads the host's boot id, which the kernel draws anew at each boot.
const bootID = "cat /proc/sys/kernel/random/boot_id"

// command is what reboots the host.
func (r *Reboot) command() string {
	if r.RebootCommand != "" {
		return r.RebootCommand
	}
	msg := tasks.Quote(or(r.Msg, "Reboot initiated by runbook"))
	return "if [ -d /run/systemd/system ]; then systemctl reboot --message=" + msg + "; else shutdown -r now " + msg + "; fi"
}

// detached starts the reboot in a session of its own, after a second (and
// pre_reboot_delay): the command that starts it returns, and the host's
// shutdown, not the connection's end, is what stops it.
func (r *Reboot) detached() string {
	script := fmt.Sprintf("sleep %d; %s", 1+int(r.PreRebootDelay/time.Second), r.command())
	return "if command -v setsid >/dev/null 2>&1; then setsid -f sh -c " + tasks.Quote(script) +
		" </dev/null >/dev/null 2>&1; else nohup sh -c " + tasks.Quote(script) + " </dev/null >/dev/null 2>&1 & fi"
}

// Check reads the boot id; the change is always the reboot.
func (r *Reboot) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	if !tasks.CanReconnect(h.Conn) {
		return nil, fmt.Errorf("reboot %s: its connection cannot be made again after the reboot (the controller itself, hosts: local?): reboot it another way", h.Name)
	}
	before, err := readBootID(ctx, h.Conn)
	if err != nil {
		return nil, err
	}
	return &tasks.Change{
		Summary: []string{"~ reboot (boot " + before + ")"},
		Apply:   func(ctx context.Context) (tasks.Done, error) { return r.apply(ctx, h, before) },
	}, nil
}

func readBootID(ctx context.Context, c tasks.Conn) (string, error) {
	res, err := c.Run(ctx, bootID, nil)
	if err != nil {
		return "", fmt.Errorf("read the boot id: %w", err)
	}
	if !res.OK() {
		return "", fmt.Errorf("read the boot id (%s): %s", bootID, res.Failure())
	}
	id := strings.TrimSpace(string(res.Stdout))
	if id == "" {
		return "", errors.New("read the boot id: " + bootID + " printed nothing")
	}
	return id, nil
}

func (r *Reboot) apply(ctx context.Context, h *tasks.Host, before string) (tasks.Done, error) {
	start := time.Now()
	timeout := or(r.RebootTimeout, 10*time.Minute)
	result := func(after string) map[string]any {
		return map[string]any{"elapsed": int(time.Since(start).Seconds()), "boot_id_before": before, "boot_id_after": after}
	}
	res, err := h.Conn.Run(ctx, r.detached(), nil)
	if err != nil {
		return tasks.Done{Result: result("")}, fmt.Errorf("start the reboot: %w", err)
	}
	if !res.OK() {
		return tasks.Done{Result: result("")}, fmt.Errorf("start the reboot: %s", res.Failure())
	}
	h.Say("rebooting")
	after, err := r.waitBack(ctx, h, before, start.Add(timeout))
	if err != nil {
		return tasks.Done{Result: result(after)}, err
	}
	if d := r.PostRebootDelay; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return tasks.Done{Result: result(after)}, ctx.Err()
		}
	}
	test := or(r.TestCommand, "whoami")
	res, err = h.Conn.Run(ctx, test, nil)
	if err != nil {
		return tasks.Done{Result: result(after)}, fmt.Errorf("test_command after the reboot: %w", err)
	}
	if !res.OK() {
		return tasks.Done{Result: result(after)}, fmt.Errorf("test_command %s after the reboot: %s", decode.Quote(test), res.Failure())
	}
	took := time.Since(start).Round(time.Second)
	return tasks.Done{Summary: []string{fmt.Sprintf("~ rebooted: back after %s (boot %s)", took, after)}, Result: result(after)}, nil
}

// waitBack connects again and again until the host answers with another
// boot id. Until the host goes down, a new connection still reaches the
// old boot; while it is down, connecting fails: both mean wait.
func (r *Reboot) waitBack(ctx context.Context, h *tasks.Host, before string, deadline time.Time) (string, error) {
	rc := h.Conn.(tasks.Reconnecter) // Check made sure
	connect := or(r.ConnectTimeout, 20*time.Second)
	var last error
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		if time.Now().After(deadline) {
			why := "it still runs the boot it had (the reboot did not happen)"
			if last != nil {
				why = "last: " + last.Error()
			}
			return "", fmt.Errorf("%s did not come back within reboot_timeout %s: %s", h.Name, or(r.RebootTimeout, 10*time.Minute), why)
		}
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return "", ctx.Err()
		}
		actx, cancel := context.WithTimeout(ctx, min(connect, max(time.Until(deadline), time.Second)))
		err := rc.Reconnect(actx)
		var id string
		if err == nil {
			id, err = readBootID(actx, h.Conn)
		}
		cancel()
		switch {
		case err != nil:
			last = err
			h.Say("waiting for the host to come back")
		case id != before:
			return id, nil
		default:
			last = nil
		}
	}
}
