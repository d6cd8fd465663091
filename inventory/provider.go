package inventory

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
	"gopkg.in/yaml.v3"
)

// Data is what a provider found.
type Data struct {
	Hosts  []*Host
	Groups []*Group
	// GroupVars and HostVars come from group_vars/ and host_vars/ beside
	// the inventory file: the groups and hosts they name may come from
	// another inventory of the run.
	GroupVars, HostVars []NamedVars
}

// Provider loads hosts and groups. Dynamic providers ask an API each time
// Load is called, so a run can see hosts that an earlier step created.
type Provider interface {
	Load(ctx context.Context) (*Data, error)
}

// Offline is implemented by providers whose Load reads local files only:
// `runbook validate` loads those, and no other, to check a runbook's hosts
// and variables without touching the network.
type Offline interface {
	Provider
	Offline() bool
}

// Plugin builds a provider from an inventory file whose `plugin:` key
// names it; doc is the whole file, for strict decoding with positions.
type Plugin func(file string, doc *yaml.Node) (Provider, error)

var (
	pluginsMu sync.RWMutex
	plugins   = map[string]Plugin{"static": openStatic}
)

// RegisterPlugin adds an inventory plugin; a duplicate name panics.
func RegisterPlugin(name string, p Plugin) {
	pluginsMu.Lock()
	defer pluginsMu.Unlock()
	if _, dup := plugins[name]; dup || name == "" {
		panic(fmt.Sprintf("inventory.RegisterPlugin: bad or duplicate name %q", name))
	}
	plugins[name] = p
}

// Open reads an inventory and returns its provider: for a directory,
// every inventory in it; for a file, by its content, Ansible's INI or YAML
// inventory, or runbook's, read by the plugin its `plugin:` key names
// (static when there is none).
func Open(file string) (Provider, error) {
	if info, err := os.Stat(file); err == nil && info.IsDir() {
		return openDir(file)
	}
	data, err := decode.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	if sniffINI(data) {
		return ansibleFile(file)
	}
	doc, err := decode.Parse(file, data)
	if err != nil {
		return nil, err
	}
	if isAnsibleYAML(docRoot(doc)) {
		return ansibleFile(file)
	}
	lock, err := cutRunLock(file, doc)
	if err != nil {
		return nil, err
	}
	name, at := "static", doc
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		root := doc.Content[0]
		for i := 0; i+1 < len(root.Content); i += 2 {
			if v := root.Content[i+1]; root.Content[i].Value == "plugin" && !(v.Kind == yaml.ScalarNode && v.ShortTag() == "!!null") {
				name, at = v.Value, v
				if v.Kind != yaml.ScalarNode {
					return nil, decode.Errorf(decode.At(file, v), "plugin: want the name of an inventory plugin, got %s", decode.NodeKind(v))
				}
			}
		}
	}
	pluginsMu.RLock()
	p, ok := plugins[name]
	known := slices.Sorted(maps.Keys(plugins))
	pluginsMu.RUnlock()
	if !ok {
		return nil, decode.Errorf(decode.At(file, at), "unknown inventory plugin %s%s (known: %s)", decode.Quote(name), decode.Suggest(name, known), strings.Join(known, ", "))
	}
	prov, err := p(file, doc)
	if err != nil || lock == nil {
		return prov, err
	}
	return lockedProvider{prov, lock}, nil
}

// Sources is every inventory given to a run, merged into one.
type Sources []Provider

// Load asks every provider and merges what they found: hosts must be
// unique; groups of the same name are joined, later variables winning.
func (s Sources) Load(ctx context.Context) (*Inventory, error) {
	var hosts []*Host
	var groups []*Group
	var groupVars, hostVars []NamedVars
	byName := map[string]*Group{}
	for _, p := range s {
		d, err := p.Load(ctx)
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, d.Hosts...)
		groupVars, hostVars = append(groupVars, d.GroupVars...), append(hostVars, d.HostVars...)
		for _, g := range d.Groups {
			if prev, ok := byName[g.Name]; ok {
				prev.Hosts = append(prev.Hosts, g.Hosts...)
				prev.Children = append(prev.Children, g.Children...)
				maps.Copy(prev.Vars, g.Vars)
				maps.Copy(prev.HostsAt, g.HostsAt)
				maps.Copy(prev.ChildrenAt, g.ChildrenAt)
				continue
			}
			c := *g
			c.Vars = maps.Clone(g.Vars)
			c.HostsAt, c.ChildrenAt = maps.Clone(g.HostsAt), maps.Clone(g.ChildrenAt)
			if c.Vars == nil {
				c.Vars = map[string]tmpl.Var{}
			}
			if c.HostsAt == nil {
				c.HostsAt = map[string]decode.Pos{}
			}
			if c.ChildrenAt == nil {
				c.ChildrenAt = map[string]decode.Pos{}
			}
			byName[g.Name] = &c
			groups = append(groups, &c)
		}
	}
	hosts = slices.Clone(hosts)
	warnings := attachVars(hosts, groups, groupVars, hostVars)
	inv, err := New(hosts, groups)
	if err != nil {
		return nil, err
	}
	if err := connect(inv); err != nil {
		return nil, err
	}
	hideBecomePasswords(inv)
	inv.warnings = warnings
	return inv, nil
}
