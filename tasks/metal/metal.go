// Package metal is the `metal` task: a set of Equinix Metal devices, as
// declared (hostname pattern, count, plan, metro, operating system, tags),
// provisioned from the controller (`hosts: local`).
package metal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
	"github.com/runbookdev/runbook/internal/metal"
	"github.com/runbookdev/runbook/internal/poll"
	"github.com/runbookdev/runbook/internal/sshkeys"
	"github.com/runbookdev/runbook/tasks"
	"golang.org/x/crypto/ssh"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "metal",
		Doc: "Equinix Metal devices (hostname pattern and count, plan, metro, operating system, tags), provisioned from the controller " +
			"(`hosts: local`) through equinix-sdk-go. Devices are matched by hostname and tags: missing ones are created in parallel and " +
			"waited for until active and answering SSH; extra ones are deleted only with prune; one with another plan, metro or operating " +
			"system, or that failed to provision, fails the step (in check mode too) and is never recreated. The controller's SSH key is registered as a project key first. " +
			"Token from METAL_AUTH_TOKEN, project from project: or METAL_PROJECT_ID, API from METAL_API_URL (default: Equinix's).",
		New: func() tasks.Task { return new(Metal) },
	})
}

// Metal is the `metal` task's parameters.
type Metal struct {
	Project  string        `yaml:"project" doc:"project ID; default $METAL_PROJECT_ID"`
	Hostname string        `yaml:"hostname" required:"true" doc:"printf pattern of the devices' hostnames, numbered from 0, e.g. consul%02d"`
	Count    *int          `yaml:"count" doc:"how many devices; default 1 (0 with prune removes them all)"`
	Plan     string        `yaml:"plan" required:"true" doc:"e.g. c3.small.x86"`
	Metro    string        `yaml:"metro" required:"true" doc:"e.g. sv"`
	OS       string        `yaml:"operating_system" required:"true" doc:"e.g. ubuntu_20_04"`
	Tags     []string      `yaml:"tags" doc:"tags every device carries; devices are matched by hostname and these tags"`
	Build    string        `yaml:"build" doc:"a build identifier, added as the tag build:VALUE"`
	Userdata string        `yaml:"userdata" doc:"userdata for new devices"`
	Prune    bool          `yaml:"prune" doc:"delete matching devices beyond count (default: leave them, and say so)"`
	SSHKey   string        `yaml:"ssh_key" doc:"public key to register as a project key, so new devices accept it; default ~/.ssh/id_ed25519.pub (or id_ecdsa, id_rsa)"`
	Timeout  time.Duration `yaml:"timeout" doc:"how long to wait for new devices to be active and answer SSH; default 15m"`
}

// Validate checks the parameters.
func (m *Metal) Validate() error {
	if strings.Count(m.Hostname, "%") != 1 && m.count() != 1 {
		return fmt.Errorf("hostname %q needs one number verb such as %%02d to name %d devices", m.Hostname, m.count())
	}
	if m.count() < 0 {
		return errors.New("count must be 0 or more")
	}
	if m.count() == 0 && !m.Prune {
		return errors.New("count: 0 removes nothing without prune: true")
	}
	return nil
}

func (m *Metal) count() int {
	if m.Count == nil {
		return 1
	}
	return *m.Count
}

func (m *Metal) tags() []string {
	tags := slices.Clone(m.Tags)
	if m.Build != "" {
		tags = append(tags, "build:"+m.Build)
	}
	return tags
}

func (m *Metal) name(i int) string {
	if !strings.Contains(m.Hostname, "%") {
		return m.Hostname
	}
	return fmt.Sprintf(m.Hostname, i)
}

// plan is what Check found to do.
type plan struct {
	key     string // public key to register, "" if registered
	create  []string
	powerOn []metalv1.Device
	remove  []metalv1.Device
}

// Check compares the project's devices with the declaration.
func (m *Metal) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	client, err := metal.FromEnv(m.Project)
	if err != nil {
		return nil, err
	}
	key, err := m.publicKey()
	if err != nil {
		return nil, err
	}
	p := &plan{}
	c := &tasks.Change{}
	var drift []error // what runbook does not make good: the step fails with it
	registered, err := keyRegistered(ctx, client, key)
	if err != nil {
		return nil, err
	}
	if !registered {
		p.key = key
		c.Summary = append(c.Summary, "+ register the controller's SSH key in project "+client.Project)
	}
	devices, err := client.Devices(ctx, m.tags())
	if err != nil {
		return nil, err
	}
	byName := map[string]metalv1.Device{}
	for _, d := range devices {
		byName[d.GetHostname()] = d
	}
	want := map[string]bool{}
	var hosts []any
	for i := range m.count() {
		name := m.name(i)
		want[name] = true
		d, ok := byName[name]
		if !ok {
			p.create = append(p.create, name)
			c.Summary = append(c.Summary, fmt.Sprintf("+ create %s (%s in %s, %s)", name, m.Plan, m.Metro, m.OS))
			continue
		}
		hosts = append(hosts, name)
		if why := m.differs(&d); why != "" {
			drift = append(drift, fmt.Errorf("%s %s: runbook does not replace servers; delete it to have it recreated, or change the runbook", name, why))
		}
		switch d.GetState() {
		case metalv1.DEVICESTATE_INACTIVE:
			p.powerOn = append(p.powerOn, d)
			c.Summary = append(c.Summary, "~ power on "+name)
		case metalv1.DEVICESTATE_FAILED:
			drift = append(drift, errors.New(name+" failed to provision: delete it to have it recreated"))
		}
	}
	var extra []any
	for _, d := range devices {
		if want[d.GetHostname()] || !m.matches(d.GetHostname()) {
			continue
		}
		if m.Prune {
			p.remove = append(p.remove, d)
			c.Summary = append(c.Summary, "- delete "+d.GetHostname())
		} else {
			extra = append(extra, d.GetHostname())
		}
	}
	c.Result = map[string]any{"devices": hosts, "extra": extra}
	c.Failure = errors.Join(drift...)
	if len(extra) > 0 {
		h.Say("%d more devices match (%v): left alone without prune: true", len(extra), extra)
	}
	if len(c.Summary) > 0 {
		c.Apply = func(ctx context.Context) (tasks.Done, error) { return tasks.Done{}, m.apply(ctx, h, client, p) }
	}
	return c, nil
}

// differs says how a device differs from the declaration, or "".
func (m *Metal) differs(d *metalv1.Device) string {
	var diffs []string
	if got := d.Plan.GetSlug(); got != m.Plan {
		diffs = append(diffs, fmt.Sprintf("plan %s, not %s", got, m.Plan))
	}
	if got := d.Metro.GetCode(); got != m.Metro {
		diffs = append(diffs, fmt.Sprintf("metro %s, not %s", got, m.Metro))
	}
	if got := d.OperatingSystem.GetSlug(); got != m.OS {
		diffs = append(diffs, fmt.Sprintf("operating system %s, not %s", got, m.OS))
	}
	if len(diffs) == 0 {
		return ""
	}
	return "has " + strings.Join(diffs, ", ")
}

// matches reports whether name follows the hostname pattern (any number).
func (m *Metal) matches(name string) bool {
	prefix, rest, ok := strings.Cut(m.Hostname, "%")
	if !ok {
		return name == m.Hostname
	}
	i := strings.IndexAny(rest, "dxXo")
	suffix := rest[i+1:]
	num := strings.TrimSuffix(strings.TrimPrefix(name, prefix), suffix)
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) || num == "" {
		return false
	}
	return strings.Trim(num, "0123456789") == ""
}

func (m *Metal) apply(ctx context.Context, h *tasks.Host, c *metal.Client, p *plan) error {
	if p.key != "" {
		label := "runbook-" + keyLabel()
		if _, resp, err := c.API.SSHKeysApi.CreateProjectSSHKey(c.Ctx(ctx), c.Project).
			SSHKeyCreateInput(metalv1.SSHKeyCreateInput{Label: &label, Key: &p.key}).Execute(); err != nil {
			return c.Explain(err, resp, "register the controller's SSH key")
		}
	}
	timeout := m.Timeout
	if timeout == 0 {
		timeout = 15 * time.Minute
	}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	fail := func(err error) { mu.Lock(); errs = append(errs, err); mu.Unlock() }
	for _, name := range p.create {
		wg.Go(func() {
			if err := m.create(ctx, h, c, name, timeout); err != nil {
				fail(err)
			}
		})
	}
	for _, d := range p.powerOn {
		wg.Go(func() {
			in := metalv1.DeviceActionInput{Type: metalv1.DEVICEACTIONINPUTTYPE_POWER_ON}
			if resp, err := c.API.DevicesApi.PerformAction(c.Ctx(ctx), d.GetId()).DeviceActionInput(in).Execute(); err != nil {
				fail(c.Explain(err, resp, "power on "+d.GetHostname()))
				return
			}
			if err := waitReady(ctx, h, c, d.GetId(), d.GetHostname(), timeout); err != nil {
				fail(err)
			}
		})
	}
	for _, d := range p.remove {
		wg.Go(func() {
			if resp, err := c.API.DevicesApi.DeleteDevice(c.Ctx(ctx), d.GetId()).Execute(); err != nil {
				fail(c.Explain(err, resp, "delete "+d.GetHostname()))
				return
			}
			h.Say("%s: deleted", d.GetHostname())
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (m *Metal) create(ctx context.Context, h *tasks.Host, c *metal.Client, name string, timeout time.Duration) error {
	in := metalv1.DeviceCreateInMetroInput{Metro: m.Metro, Plan: m.Plan, OperatingSystem: m.OS, Hostname: &name, Tags: m.tags()}
	if m.Userdata != "" {
		in.Userdata = &m.Userdata
	}
	d, resp, err := c.API.DevicesApi.CreateDevice(c.Ctx(ctx), c.Project).CreateDeviceRequest(metalv1.CreateDeviceRequest{DeviceCreateInMetroInput: &in}).Execute()
	if err != nil {
		return c.Explain(err, resp, fmt.Sprintf("create %s (plan %s, metro %s, operating_system %s)", name, m.Plan, m.Metro, m.OS))
	}
	h.Say("%s: %s", name, d.GetState())
	return waitReady(ctx, h, c, d.GetId(), name, timeout)
}

// waitReady waits until the device is active and its sshd answers on its
// public address, saying how it goes.
func waitReady(ctx context.Context, h *tasks.Host, c *metal.Client, id, name string, timeout time.Duration) error {
	start := time.Now()
	last := metalv1.DeviceState("")
	var public string
	waited, state, err := poll.Until(ctx, timeout, time.Second, func(ctx context.Context) (bool, string, error) {
		d, resp, err := c.API.DevicesApi.FindDeviceById(c.Ctx(ctx), id).Execute()
		if err != nil {
			return false, string(last), c.Explain(err, resp, "follow "+name)
		}
		if st := d.GetState(); st != last {
			h.Say("%s: %s after %s", name, st, time.Since(start).Round(time.Second))
			last = st
		}
		switch d.GetState() {
		case metalv1.DEVICESTATE_FAILED:
			return false, string(last), fmt.Errorf("%s failed to provision", name)
		case metalv1.DEVICESTATE_ACTIVE:
			public, _ = metal.Addresses(d)
			return public != "" && sshAnswers(public), string(last), nil
		}
		return false, string(last), nil
	})
	switch {
	case errors.Is(err, poll.ErrGaveUp):
		return fmt.Errorf("%s is %s after %s: gave up waiting (timeout)", name, state, timeout)
	case err != nil:
		return err
	}
	h.Say("%s: ready at %s after %s", name, public, waited.Round(time.Second))
	return nil
}

func sshAnswers(addr string) bool {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "22"), 2*time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 4)
	n, _ := conn.Read(buf)
	return string(buf[:n]) == "SSH-"
}

// publicKey reads the key to register.
func (m *Metal) publicKey() (string, error) {
	files := []string{m.SSHKey}
	if m.SSHKey == "" {
		files = nil
		for _, f := range sshkeys.Defaults() {
			files = append(files, f+".pub")
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(sshkeys.ExpandHome(f))
		if err != nil {
			continue
		}
		if _, _, _, _, err := ssh.ParseAuthorizedKey(data); err != nil {
			return "", fmt.Errorf("ssh_key %s: %w", f, err)
		}
		return strings.TrimSpace(string(data)), nil
	}
	return "", fmt.Errorf("no SSH public key to register (looked at %s): give ssh_key:, or create one with ssh-keygen -t ed25519", strings.Join(files, ", "))
}

// keyRegistered reports whether the project has key, comparing key material.
func keyRegistered(ctx context.Context, c *metal.Client, key string) (bool, error) {
	want, _, _, _, err := ssh.ParseAuthorizedKey([]byte(key))
	if err != nil {
		return false, err
	}
	list, resp, err := c.API.SSHKeysApi.FindProjectSSHKeys(c.Ctx(ctx), c.Project).Execute()
	if err != nil {
		return false, c.Explain(err, resp, "list the project's SSH keys")
	}
	for _, k := range list.SshKeys {
		if got, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.GetKey())); err == nil && string(got.Marshal()) == string(want.Marshal()) {
			return true, nil
		}
	}
	return false, nil
}

func keyLabel() string {
	host, _ := os.Hostname()
	if host == "" {
		host = "controller"
	}
	return host
}
