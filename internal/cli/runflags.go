package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/output"
	"github.com/runbookdev/runbook/internal/prompt"
	"github.com/runbookdev/runbook/internal/sshconfig"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/spf13/pflag"
)

// targetFlags choose the hosts and variables of a run: apply's and run's.
type targetFlags struct {
	inventories []string
	extra       []string
	limit       list
}

func (t *targetFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&t.inventories, "inventory", "i", nil, "inventory: a `FILE` (runbook's, or Ansible's INI or YAML) or a directory of them (repeatable)")
	fs.StringArrayVarP(&t.extra, "extra-vars", "e", nil, "extra variables (`VARS`): key=value ..., a YAML/JSON mapping, or @file.yaml (repeatable; highest precedence)")
	fs.VarP(&t.limit, "limit", "l", "only these hosts or groups (comma-separated `PATTERNS`)")
	group(fs, "Inventory and variables", "inventory", "extra-vars", "limit")
}

// connFlags say how hosts are reached, and as whom steps run there.
type connFlags struct {
	user          string
	privateKey    string
	knownHosts    string
	acceptNew     bool
	connTimeout   time.Duration
	sshConfig     string
	become        bool
	askBecomePass bool
}

func (c *connFlags) register(fs *pflag.FlagSet) {
	fs.StringVarP(&c.user, "user", "u", "", "SSH `USER` for hosts whose inventory names none (default: ~/.ssh/config's, else the current user)")
	fs.StringVar(&c.privateKey, "private-key", "", "SSH private key `FILE` for hosts whose inventory names none")
	fs.StringVar(&c.knownHosts, "known-hosts", "", "known_hosts `FILE` (default $RUNBOOK_KNOWN_HOSTS, then ~/.ssh/known_hosts, then /etc/ssh/ssh_known_hosts)")
	fs.BoolVar(&c.acceptNew, "accept-new-host-keys", false, "trust hosts seen for the first time and record their keys; changed keys are still refused")
	fs.DurationVar(&c.connTimeout, "connect-timeout", 20*time.Second, "how long to wait for a host's SSH connection")
	fs.StringVarP(&c.sshConfig, "ssh-config", "F", "", "ssh_config `FILE` to read instead of ~/.ssh/config and /etc/ssh/ssh_config, as ssh -F")
	group(fs, "Connection", "user", "private-key", "known-hosts", "accept-new-host-keys", "connect-timeout", "ssh-config")
	fs.BoolVarP(&c.become, "become", "b", false, "run every step as the host's become user (root unless the inventory names another), by its become method (sudo unless it names su or doas)")
	fs.BoolVarP(&c.askBecomePass, "ask-become-pass", "K", false, "ask for the become password once, without echo (sudo's: the login user's; su's: the target user's)")
	group(fs, "Privilege escalation", "become", "ask-become-pass")
}

// check refuses what cannot work, before anything is read.
func (c *connFlags) check() error {
	if c.connTimeout <= 0 {
		// 0 would mean the transport's default, below 0 no time at all.
		return fmt.Errorf("--connect-timeout must be above 0, such as 20s; got %s", c.connTimeout)
	}
	if c.privateKey != "" {
		if _, err := os.Stat(sshkeys.ExpandHome(c.privateKey)); err != nil {
			return fmt.Errorf("--private-key %s: %s", c.privateKey, statError(err))
		}
	}
	return nil
}

// becomePass asks for the become password when -K says to.
func (c *connFlags) becomePass(ctx context.Context, e *env) (string, error) {
	if !c.askBecomePass {
		return "", nil
	}
	pw, err := prompt.Password(ctx, e.stdin, e.stderr, "BECOME password: ")
	if err != nil {
		return "", fmt.Errorf("-K: %w", err)
	}
	return pw, nil
}

// pool is where the run's connections come from, with the ssh_config
// (-F, else ~/.ssh/config and /etc/ssh/ssh_config) read; the caller
// closes it.
func (c *connFlags) pool(log *slog.Logger) (*transport.Pool, error) {
	sshCfg, err := sshconfig.Load(c.sshConfig)
	if err != nil {
		return nil, err
	}
	keys := &transport.HostKeys{Files: transport.DefaultKnownHosts(), AcceptNew: c.acceptNew}
	if env := os.Getenv("RUNBOOK_KNOWN_HOSTS"); env != "" {
		keys.Files = append([]string{env}, keys.Files...)
		keys.Explicit = true
	}
	if c.knownHosts != "" {
		keys.Files = []string{c.knownHosts}
		keys.Explicit = true
	}
	pool := &transport.Pool{Keys: keys, Timeout: c.connTimeout, User: c.user, SSHConfig: sshCfg, Log: log}
	if c.privateKey != "" {
		pool.KeyFiles = []string{c.privateKey}
	}
	return pool, nil
}

// outFlags say how a run is shown.
type outFlags struct {
	format  string
	verbose int
}

func (o *outFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&o.format, "output", "text", "`FORMAT`: text, or json (one event per line)")
	fs.CountVarP(&o.verbose, "verbose", "v", "show what each command printed under its host's line; -vvv: log diagnostics to stderr too")
	group(fs, "Output", "output", "verbose")
}

func (o *outFlags) check() error {
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("--output must be text or json, got %q", o.format)
	}
	return nil
}

// fail reports err, which stops the command before it runs anything: on
// stderr, and under --output json as error events on stdout too, one per
// problem. redact, when set, hides secrets in it.
func (o *outFlags) fail(e *env, err error, redact func(string) string) int {
	if o.format == "json" {
		j := output.NewJSON(e.stdout)
		for _, ev := range output.ErrorEvents(err, redact) {
			j.Report(ev)
		}
	}
	msg := err.Error()
	if redact != nil {
		msg = redact(msg)
	}
	return e.errorf("%s", msg)
}

// reporter shows the run's events on w.
func (o *outFlags) reporter(w io.Writer) engine.Reporter {
	if o.format == "json" {
		return output.NewJSON(w)
	}
	t := output.NewText(w)
	t.ShowOutput = o.verbose > 0
	return t
}

// statError says what is wrong with a file without the system call's name.
func statError(err error) string {
	if errors.Is(err, os.ErrNotExist) {
		return "no such file"
	}
	return err.Error()
}
