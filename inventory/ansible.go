package inventory

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/sshconfig"
	"github.com/runbookdev/runbook/internal/tmpl"
)

// ansibleFiles reads inventories written for Ansible (INI or YAML), all
// into one set of hosts and groups: a host may appear in several files
// and several groups, its variables merged, later ones winning, as
// Ansible merges them.
type ansibleFiles struct {
	files    []string
	varsDirs string // the inventory beside whose group_vars/ to read; "" for none
}

func (ansibleFiles) Offline() bool { return true }

func (a ansibleFiles) Load(context.Context) (*Data, error) {
	b := newAnsible()
	var errs decode.List
	for _, f := range a.files {
		data, err := decode.ReadFile(f)
		if err != nil {
			errs.Add(fmt.Errorf("read inventory: %w", err))
			continue
		}
		errs.Add(b.parse(f, data))
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	d := b.data()
	if a.varsDirs != "" {
		var err error
		if d.GroupVars, d.HostVars, err = ReadVarsDirs(a.varsDirs); err != nil {
			return nil, err
		}
	}
	if _, err := New(d.Hosts, d.Groups); err != nil {
		return nil, err
	}
	return d, nil
}

func (b *ansibleInv) parse(file string, data []byte) error {
	if sniffINI(data) {
		return b.parseINI(file, data)
	}
	doc, err := decode.Parse(file, data)
	if err != nil {
		return err
	}
	return b.parseYAML(file, doc)
}

// ansibleInv gathers the hosts and groups of Ansible inventories.
type ansibleInv struct {
	hosts  map[string]*Host
	order  []string
	groups map[string]*Group
	gorder []string
	// direct says which groups list a host themselves, for "ungrouped".
	direct map[string]map[string]bool
}

func newAnsible() *ansibleInv {
	b := &ansibleInv{hosts: map[string]*Host{}, groups: map[string]*Group{}, direct: map[string]map[string]bool{}}
	b.group("all", decode.Pos{})
	b.group("ungrouped", decode.Pos{})
	return b
}

func (b *ansibleInv) group(name string, pos decode.Pos) *Group {
	g, ok := b.groups[name]
	if !ok {
		g = &Group{Name: name, Vars: map[string]tmpl.Var{}, Pos: pos, HostsAt: map[string]decode.Pos{}, ChildrenAt: map[string]decode.Pos{}}
		b.groups[name] = g
		b.gorder = append(b.gorder, name)
	} else if g.Pos.File == "" {
		g.Pos = pos
	}
	return g
}

// host defines a host, or finds it again, and puts it in group.
func (b *ansibleInv) host(name, group string, pos decode.Pos) *Host {
	h, ok := b.hosts[name]
	if !ok {
		h = &Host{Name: name, Address: name, Vars: map[string]tmpl.Var{}, Pos: pos, ansible: true}
		b.hosts[name] = h
		b.order = append(b.order, name)
		b.direct[name] = map[string]bool{}
	}
	b.direct[name][group] = true
	// "all" holds every host already: listing them would make "all" one of
	// the groups a host is shown in.
	if g := b.group(group, pos); group != "all" && !has(g.HostsAt, name) {
		g.Hosts = append(g.Hosts, name)
		g.HostsAt[name] = pos
	}
	return h
}

// child puts a group in another. Every group is a child of "all" already:
// saying so would make "all" one of the groups its hosts are shown in.
func (b *ansibleInv) child(parent, child string, pos decode.Pos) {
	g := b.group(parent, pos)
	b.group(child, pos)
	if parent != "all" && !has(g.ChildrenAt, child) {
		g.Children = append(g.Children, child)
		g.ChildrenAt[child] = pos
	}
}

// data puts hosts that no group lists in "ungrouped", as Ansible does.
func (b *ansibleInv) data() *Data {
	d := &Data{}
	ungrouped := b.groups["ungrouped"]
	for _, name := range b.order {
		d.Hosts = append(d.Hosts, b.hosts[name])
		others := 0
		for g := range b.direct[name] {
			if g != "all" && g != "ungrouped" {
				others++
			}
		}
		if others == 0 && !has(ungrouped.HostsAt, name) {
			ungrouped.Hosts = append(ungrouped.Hosts, name)
			ungrouped.HostsAt[name] = b.hosts[name].Pos
		}
		if others > 0 && has(ungrouped.HostsAt, name) {
			// Ansible's reconcile_inventory: [ungrouped] is for hosts
			// in no other group.
			ungrouped.Hosts = slices.DeleteFunc(ungrouped.Hosts, func(h string) bool { return h == name })
			delete(ungrouped.HostsAt, name)
		}
	}
	for _, name := range b.gorder {
		d.Groups = append(d.Groups, b.groups[name])
	}
	return d
}

func has(m map[string]decode.Pos, name string) bool {
	_, ok := m[name]
	return ok
}

// setVar checks a variable's name (written at at) as a vars: key is
// checked.
func setVar(vars map[string]tmpl.Var, name string, at decode.Pos, v tmpl.Var) error {
	switch {
	case !tmpl.ValidName(name):
		return decode.Errorf(at, "variable name %s: use letters, digits and _ only, starting with a letter or _", decode.Quote(name))
	case tmpl.IsReserved(name):
		return decode.Errorf(at, "variable name %s is reserved (runbook sets %s)", decode.Quote(name), strings.Join(tmpl.Reserved, ", "))
	}
	vars[name] = v
	return nil
}

// Ansible's connection variables, and the Host field each sets. The
// variables stay variables too, as in Ansible ({{ ansible_host }}).
var connVars = map[string][]string{
	"address":       {"ansible_host", "ansible_ssh_host"},
	"port":          {"ansible_port", "ansible_ssh_port"},
	"user":          {"ansible_user", "ansible_ssh_user"},
	"key":           {"ansible_ssh_private_key_file", "ansible_private_key_file"},
	"connection":    {"ansible_connection"},
	"become":        {"ansible_become"},
	"become_user":   {"ansible_become_user"},
	"become_method": {"ansible_become_method"},
	"proxy_jump":    {"ansible_ssh_common_args"},
}

// connect sets the connection fields of the hosts that Ansible inventories
// define from their variables, once every layer (group_vars/ and
// host_vars/ included) is known: [all:vars] ansible_user=deploy is as
// common as a host's own ansible_port.
func connect(inv *Inventory) error {
	var errs decode.List
	for _, name := range inv.order {
		h := inv.hosts[name]
		if !h.ansible {
			continue
		}
		vars := map[string]tmpl.Var{}
		for _, layer := range inv.VarLayers(name) {
			maps.Copy(vars, layer)
		}
		c := *h
		for _, field := range slices.Sorted(maps.Keys(connVars)) {
			var v tmpl.Var
			var key string
			for _, k := range slices.Backward(connVars[field]) {
				if x, ok := vars[k]; ok {
					v, key = x, k
				}
			}
			if key == "" {
				continue
			}
			errs.Add(c.setConn(field, key, v))
		}
		inv.hosts[name] = &c
	}
	return errs.Err()
}

func (h *Host) setConn(field, key string, v tmpl.Var) error {
	s, isString := v.Value.(string)
	if isString && decode.HasTemplate(s) {
		return decode.Errorf(v.Pos, "host %s: %s is a template, which runbook does not render in connection settings: write the value", decode.Quote(h.Name), key)
	}
	if v.Secret && field != "key" {
		return decode.Errorf(v.Pos, "host %s: %s is a secret, and a connection setting is shown in output: write it plainly", decode.Quote(h.Name), key)
	}
	switch field {
	case "port":
		n, ok := intValue(v.Value)
		if !ok || n < 1 || n > 65535 {
			return decode.Errorf(v.Pos, "host %s: %s must be a port between 1 and 65535, got %s", decode.Quote(h.Name), key, decode.Quote(fmt.Sprint(v.Value)))
		}
		h.Port = n
		return nil
	case "become":
		b, ok := boolValue(v.Value)
		if !ok {
			return decode.Errorf(v.Pos, "host %s: %s must be true or false, got %s", decode.Quote(h.Name), key, decode.Quote(fmt.Sprint(v.Value)))
		}
		h.Become = b
		return nil
	}
	if !isString {
		return decode.Errorf(v.Pos, "host %s: %s must be a string, got %s", decode.Quote(h.Name), key, decode.Quote(fmt.Sprint(v.Value)))
	}
	switch field {
	case "address":
		h.Address = s
	case "user":
		h.User = s
	case "become_user":
		h.BecomeUser = s
	case "become_method":
		if err := CheckBecomeMethod(s); err != nil {
			return decode.Errorf(v.Pos, "host %s: %s %v", decode.Quote(h.Name), key, err)
		}
		h.BecomeMethod = s
	case "key":
		if s != "" && !filepath.IsAbs(s) && !strings.HasPrefix(s, "~/") {
			// Relative to the file that says it, as static's key: is.
			s = filepath.Join(filepath.Dir(v.Pos.File), s)
		}
		h.Key, h.KeyPos = s, v.Pos
	case "proxy_jump":
		jump, found, err := sshconfig.FromArgs(s)
		if err != nil {
			return decode.Errorf(v.Pos, "host %s: %s: %w", decode.Quote(h.Name), key, err)
		}
		if found {
			h.ProxyJump = jump
		}
	case "connection":
		switch s {
		case "ssh", "smart", "paramiko":
			h.Connection = "ssh"
		case "local":
			h.Connection = "local"
		default:
			return decode.Errorf(v.Pos, "host %s: %s must be ssh or local (runbook connects no other way), got %s", decode.Quote(h.Name), key, decode.Quote(s))
		}
	}
	return nil
}

func intValue(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}

// boolValue reads a boolean as Ansible's boolean() does for its settings.
func boolValue(v any) (bool, bool) {
	switch b := v.(type) {
	case bool:
		return b, true
	case int:
		return b != 0, b == 0 || b == 1
	case string:
		switch strings.ToLower(b) {
		case "yes", "on", "1", "true", "t", "y":
			return true, true
		case "no", "off", "0", "false", "f", "n":
			return false, true
		}
	}
	return false, false
}

func ansibleFile(file string) (Provider, error) {
	a := ansibleFiles{files: []string{file}, varsDirs: file}
	if err := check(a); err != nil {
		return nil, err
	}
	return a, nil
}

// check reads Ansible inventories up front, so a broken one is reported
// before anything runs; group_vars/ may still change what connect finds.
func check(a ansibleFiles) error {
	d, err := a.Load(context.Background())
	if err != nil {
		return err
	}
	inv, err := New(d.Hosts, d.Groups)
	if err != nil {
		return err
	}
	return connect(inv)
}
