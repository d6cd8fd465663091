// Package equinixmetal is the equinix-metal inventory plugin: the active
// devices of a Metal project, asked of the Metal API on every load. It is a
// package of its own so that what reads inventories (the engine, the module
// test kit) does not compile in the Equinix SDK; cmd/runbook imports it.
package equinixmetal

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/equinix/equinix-sdk-go/services/metalv1"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/metal"
	"github.com/runbookdev/runbook/internal/sshconfig"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
	"gopkg.in/yaml.v3"
)

func init() { inventory.RegisterPlugin("equinix-metal", openMetal) }

// The equinix-metal inventory:
//
//	plugin: equinix-metal
//	project: ...            # default $METAL_PROJECT_ID
//	tags: [consul]          # only devices with all these tags
//	address: public         # or private
//	user: root
//	key: ~/.ssh/id_ed25519
//	proxy_jump: root@bastion     # with address: private, say
//	group_by: [hostname, tags]   # also: plan, metro
//	vars: {...}
type metalFile struct {
	Plugin  string   `yaml:"plugin"`
	Project string   `yaml:"project" doc:"project ID; default $METAL_PROJECT_ID"`
	Tags    []string `yaml:"tags" doc:"only devices that carry all these tags"`
	Address string   `yaml:"address" doc:"public (default) or private: the IPv4 address runbook connects to"`
	User    string   `yaml:"user" doc:"SSH user; default root"`
	Port    int      `yaml:"port" doc:"SSH port; default 22"`
	Key     string   `yaml:"key" doc:"private key file; default ~/.ssh/id_ed25519, id_ecdsa, id_rsa and ssh-agent"`
	// ProxyJump is for fleets reached through a bastion, often at their
	// private addresses.
	ProxyJump string    `yaml:"proxy_jump" doc:"bastions to reach the devices through, as ssh's ProxyJump: [user@]host[:port], comma-separated; default: as ~/.ssh/config says"`
	GroupBy   []string  `yaml:"group_by" doc:"what makes groups: hostname (consul00 -> consul), tags, plan, metro; default [hostname, tags]"`
	Vars      yaml.Node `yaml:"vars" doc:"variables for every host"`
}

type metalProvider struct {
	file string
	cfg  metalFile
	vars map[string]tmpl.Var
}

func openMetal(file string, doc *yaml.Node) (inventory.Provider, error) {
	var cfg metalFile
	if err := decode.Node(file, doc, &cfg, decode.Options{}); err != nil {
		return nil, err
	}
	var errs decode.List
	switch cfg.Address {
	case "", "public", "private":
	default:
		errs.Add(decode.Errorf(decode.Pos{File: file}, "address must be public or private, got %s", decode.Quote(cfg.Address)))
	}
	for _, g := range cfg.GroupBy {
		if !slices.Contains([]string{"hostname", "tags", "plan", "metro"}, g) {
			errs.Add(decode.Errorf(decode.Pos{File: file}, "group_by: %s is not one of hostname, tags, plan, metro", decode.Quote(g)))
		}
	}
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if p := decode.Value(root, "port"); p != nil {
		errs.Add(inventory.CheckPort(file, p, "", cfg.Port))
	}
	if _, err := sshconfig.ParseJumps(cfg.ProxyJump); err != nil {
		errs.Add(decode.Errorf(decode.At(file, decode.Value(root, "proxy_jump")), "proxy_jump: %w", err))
	}
	vars, err := tmpl.ParseVars(file, &cfg.Vars)
	errs.Add(err)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if cfg.GroupBy == nil {
		cfg.GroupBy = []string{"hostname", "tags"}
	}
	if cfg.User == "" {
		cfg.User = "root"
	}
	if cfg.Key != "" && !filepath.IsAbs(cfg.Key) && !strings.HasPrefix(cfg.Key, "~/") {
		cfg.Key = filepath.Join(filepath.Dir(file), cfg.Key)
	}
	return &metalProvider{file: file, cfg: cfg, vars: vars}, nil
}

// Load asks the API for the project's active devices.
func (p *metalProvider) Load(ctx context.Context) (*inventory.Data, error) {
	client, err := metal.FromEnv(p.cfg.Project)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.file, err)
	}
	devices, err := client.Devices(ctx, p.cfg.Tags)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.file, err)
	}
	data := &inventory.Data{Groups: []*inventory.Group{{Name: "all", Vars: p.vars}}}
	if data.GroupVars, data.HostVars, err = inventory.ReadVarsDirs(p.file); err != nil {
		return nil, err
	}
	members := map[string][]string{}
	var order []string
	join := func(group, host string) {
		group = groupName(group)
		if group == "" || group == host || group == "all" {
			return
		}
		if _, ok := members[group]; !ok {
			order = append(order, group)
		}
		members[group] = append(members[group], host)
	}
	slices.SortFunc(devices, func(a, b metalv1.Device) int { return strings.Compare(a.GetHostname(), b.GetHostname()) })
	for _, d := range devices {
		if d.GetState() != metalv1.DEVICESTATE_ACTIVE {
			continue
		}
		name := d.GetHostname()
		public, private := metal.Addresses(&d)
		addr := public
		if p.cfg.Address == "private" {
			addr = private
		}
		if addr == "" {
			continue // nothing to connect to
		}
		tags := make([]any, len(d.Tags))
		for i, t := range d.Tags {
			tags[i] = t
		}
		vars := map[string]tmpl.Var{}
		for k, v := range map[string]any{
			"id": d.GetId(), "plan": d.Plan.GetSlug(), "metro": d.Metro.GetCode(), "operating_system": d.OperatingSystem.GetSlug(),
			"tags": tags, "public_ipv4": public, "private_ipv4": private,
		} {
			vars[k] = tmpl.Var{Value: v, Pos: decode.Pos{File: p.file}}
		}
		data.Hosts = append(data.Hosts, &inventory.Host{Name: name, Address: addr, Port: p.cfg.Port, User: p.cfg.User, Key: p.cfg.Key, ProxyJump: p.cfg.ProxyJump, Vars: vars})
		for _, by := range p.cfg.GroupBy {
			switch by {
			case "hostname":
				join(strings.TrimRight(name, "0123456789-"), name)
			case "tags":
				for _, t := range d.Tags {
					join(t, name)
				}
			case "plan":
				join("plan_"+d.Plan.GetSlug(), name)
			case "metro":
				join("metro_"+d.Metro.GetCode(), name)
			}
		}
	}
	for _, g := range order {
		if slices.ContainsFunc(data.Hosts, func(h *inventory.Host) bool { return h.Name == g }) {
			continue
		}
		data.Groups = append(data.Groups, &inventory.Group{Name: g, Hosts: slices.Compact(members[g])})
	}
	return data, nil
}

// groupName makes a tag usable as a group name: letters, digits, _ and -.
func groupName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' {
			return r
		}
		return '_'
	}, s)
}
