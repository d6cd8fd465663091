package inventory

import (
	"maps"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
	"gopkg.in/yaml.v3"
)

// staticKeys are the top-level keys of runbook's own YAML inventory.
var staticKeys = map[string]bool{"plugin": true, "defaults": true, "vars": true, "hosts": true, "groups": true, "lock": true}

// groupKeys are what a group holds in Ansible's YAML inventory.
var groupKeys = []string{"hosts", "children", "vars"}

// isAnsibleYAML tells Ansible's YAML inventory (all: {hosts: ...,
// children: ...}) from runbook's own: it has a group "all", or only
// groups, each empty or holding hosts, children or vars.
func isAnsibleYAML(root *yaml.Node) bool {
	if root == nil || root.Kind != yaml.MappingNode || len(root.Content) == 0 {
		return false
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value == "all" {
			return true
		}
		if staticKeys[k.Value] {
			return false
		}
		if v.ShortTag() == "!!null" {
			continue
		}
		if v.Kind != yaml.MappingNode {
			return false
		}
		for j := 0; j < len(v.Content); j += 2 {
			if key := v.Content[j].Value; key != "hosts" && key != "children" && key != "vars" {
				return false
			}
		}
	}
	return true
}

// maxGroupVisits bounds the groups read through YAML aliases, which may
// name one group's node many times over.
const maxGroupVisits = 100000

func (b *ansibleInv) parseYAML(file string, doc *yaml.Node) error {
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == 0 || root.ShortTag() == "!!null" {
		return nil
	}
	var errs decode.List
	if root.Kind != yaml.MappingNode {
		errs.Add(decode.Errorf(decode.At(file, root), "want a mapping of groups (all: {hosts: ..., children: ...}), got %s", decode.NodeKind(root)))
		return errs.Err()
	}
	pairs, err := decode.Pairs(file, root)
	errs.Add(err)
	visits := 0
	for _, kv := range pairs {
		b.yamlGroup(file, kv[0], kv[1], nil, &visits, &errs)
	}
	return errs.Err()
}

func (b *ansibleInv) yamlGroup(file string, kn, vn *yaml.Node, parents []string, visits *int, errs *decode.List) {
	name, pos := kn.Value, decode.At(file, kn)
	for _, p := range parents {
		if p == name {
			errs.Add(decode.Errorf(pos, "group %s is its own child: a group cannot contain itself", decode.Quote(name)))
			return
		}
	}
	if *visits++; *visits > maxGroupVisits {
		errs.Add(decode.Errorf(pos, "more than %d groups: are aliases repeating them?", maxGroupVisits))
		return
	}
	g := b.group(name, pos)
	if vn.Kind == yaml.AliasNode {
		vn = vn.Alias
	}
	if vn.Kind == 0 || vn.ShortTag() == "!!null" {
		return
	}
	if vn.Kind != yaml.MappingNode {
		errs.Add(decode.Errorf(decode.At(file, vn), "group %s: want a mapping with hosts:, children: or vars:, got %s", decode.Quote(name), decode.NodeKind(vn)))
		return
	}
	pairs, err := decode.Pairs(file, vn)
	errs.Add(err)
	for _, kv := range pairs {
		k, v := kv[0], kv[1]
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		switch k.Value {
		case "vars":
			vars, err := tmpl.ParseVars(file, v)
			errs.Add(err)
			maps.Copy(g.Vars, vars)
		case "hosts":
			b.yamlHosts(file, name, v, errs)
		case "children":
			if v.ShortTag() == "!!null" {
				continue
			}
			if v.Kind != yaml.MappingNode {
				errs.Add(decode.Errorf(decode.At(file, v), "group %s: children: want a mapping of groups, got %s", decode.Quote(name), decode.NodeKind(v)))
				continue
			}
			children, err := decode.Pairs(file, v)
			errs.Add(err)
			for _, c := range children {
				b.child(name, c[0].Value, decode.At(file, c[0]))
				b.yamlGroup(file, c[0], c[1], append(parents, name), visits, errs)
			}
		default:
			errs.Add(decode.Errorf(decode.At(file, k), "group %s: unknown key %s%s: a group holds hosts:, children: and vars:", decode.Quote(name), decode.Quote(k.Value), decode.Suggest(k.Value, groupKeys)))
		}
	}
}

func (b *ansibleInv) yamlHosts(file, group string, n *yaml.Node, errs *decode.List) {
	if n.ShortTag() == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		errs.Add(decode.Errorf(decode.At(file, n), "group %s: hosts: want a mapping of host names to their variables (web01: or web01: {ansible_host: ...}), got %s", decode.Quote(group), decode.NodeKind(n)))
		return
	}
	pairs, err := decode.Pairs(file, n)
	errs.Add(err)
	for _, kv := range pairs {
		hk, hv := kv[0], kv[1]
		at := decode.At(file, hk)
		pattern, port, err := splitPort(hk.Value)
		if err != nil {
			errs.Add(decode.Errorf(at, "%v", err))
			continue
		}
		names, err := expandHosts(pattern)
		if err != nil {
			errs.Add(decode.Errorf(at, "%v", err))
			continue
		}
		if hv.Kind == yaml.AliasNode {
			hv = hv.Alias
		}
		if hv.Kind != 0 && hv.ShortTag() != "!!null" && hv.Kind != yaml.MappingNode {
			errs.Add(decode.Errorf(decode.At(file, hv), "host %s: want a mapping of its variables, or nothing, got %s", decode.Quote(pattern), decode.NodeKind(hv)))
			continue
		}
		vars, err := tmpl.ParseVars(file, hv)
		errs.Add(err)
		if port != 0 {
			vars["ansible_port"] = tmpl.Var{Value: port, Pos: at}
		}
		for _, name := range names {
			maps.Copy(b.host(name, group, at).Vars, vars)
		}
	}
}
