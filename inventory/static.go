package inventory

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/sshconfig"
	"github.com/runbookdev/runbook/internal/tmpl"
	"gopkg.in/yaml.v3"
)

// The static file format:
//
//	defaults: {user: root, port: 22, key: ~/.ssh/id_ed25519}
//	vars: {...}                # for every host (the group "all")
//	hosts:
//	  web01: {address: 10.0.0.1, port: 2222, user: deploy, vars: {...}}
//	  web02:                   # address defaults to the name
//	groups:
//	  web: {hosts: [web01, web02], children: [canary], vars: {...}}
type staticFile struct {
	Plugin   yaml.Node `yaml:"plugin" doc:"static (the default)"`
	Defaults conn      `yaml:"defaults" doc:"connection settings for every host that does not set its own"`
	Vars     yaml.Node `yaml:"vars" doc:"variables for every host"`
	Hosts    yaml.Node `yaml:"hosts" doc:"hosts by name"`
	Groups   yaml.Node `yaml:"groups" doc:"groups by name"`
}

type conn struct {
	Address    string `yaml:"address" doc:"IP address or DNS name; default: the host's name"`
	Port       int    `yaml:"port" doc:"SSH port; default 22"`
	User       string `yaml:"user" doc:"SSH user; default: the current user"`
	Key        string `yaml:"key" doc:"private key file; default: ~/.ssh/id_ed25519, id_ecdsa, id_rsa and ssh-agent"`
	Connection string `yaml:"connection" doc:"ssh (default) or local"`
	ProxyJump  string `yaml:"proxy_jump" doc:"bastions to reach the host through, as ssh's ProxyJump: [user@]host[:port], comma-separated; none for none; default: as ~/.ssh/config says"`
}

type staticHost struct {
	conn `yaml:",inline"`
	Vars yaml.Node `yaml:"vars"`
}

type staticGroup struct {
	Hosts    []string  `yaml:"hosts"`
	Children []string  `yaml:"children"`
	Vars     yaml.Node `yaml:"vars"`
}

// static reads its file again at every Load, so a step that rewrites the
// inventory (or a provisioning step that adds hosts to it) is seen by the
// steps after it.
type static struct{ file string }

// Offline says that the file is all there is to read.
func (static) Offline() bool { return true }

func (s static) Load(context.Context) (*Data, error) {
	data, err := decode.ReadFile(s.file)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	doc, err := decode.Parse(s.file, data)
	if err != nil {
		return nil, err
	}
	if _, err := cutRunLock(s.file, doc); err != nil {
		return nil, err // the run took its lock at the start; see RunLock
	}
	return parseStatic(s.file, doc)
}

// openStatic checks the file up front, so a broken inventory is reported
// before anything runs.
func openStatic(file string, doc *yaml.Node) (Provider, error) {
	if _, err := parseStatic(file, doc); err != nil {
		return nil, err
	}
	return static{file}, nil
}

func parseStatic(file string, doc *yaml.Node) (*Data, error) {
	var raw staticFile
	if err := decode.Node(file, doc, &raw, decode.Options{}); err != nil {
		return nil, err
	}
	var errs decode.List
	if p := &raw.Plugin; p.Kind != 0 && p.ShortTag() != "!!null" && p.Value != "static" {
		// Open chose the plugin from the keys written at the top level.
		errs.Add(decode.Errorf(decode.At(file, p), "plugin %s comes through a merge key (<<), which chooses no plugin: write plugin: at the top level", decode.NodeKind(p)))
	}
	data := &Data{}
	allVars, err := tmpl.ParseVars(file, &raw.Vars)
	errs.Add(err)
	data.Groups = append(data.Groups, &Group{Name: "all", Vars: allVars})
	root := doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if p := decode.Value(decode.Value(root, "defaults"), "port"); p != nil {
		errs.Add(CheckPort(file, p, "defaults: ", raw.Defaults.Port))
	}

	eachKey(&raw.Hosts, file, "hosts", &errs, func(name string, kn, vn *yaml.Node) {
		var h staticHost
		if err := decode.Node(file, vn, &h, decode.Options{}); err != nil {
			errs.Add(err)
			return
		}
		vars, err := tmpl.ParseVars(file, &h.Vars)
		errs.Add(err)
		if p := decode.Value(vn, "port"); p != nil {
			errs.Add(CheckPort(file, p, fmt.Sprintf("host %s: ", decode.Quote(name)), h.Port))
		}
		keyPos := decode.At(file, decode.Value(decode.Value(root, "defaults"), "key"))
		if k := decode.Value(vn, "key"); k != nil {
			keyPos = decode.At(file, k)
		}
		c := merge(h.conn, raw.Defaults)
		if c.Address == "" {
			c.Address = name
		}
		if c.Key != "" && !filepath.IsAbs(c.Key) && !strings.HasPrefix(c.Key, "~/") {
			// Relative to the inventory, so it works from any directory.
			c.Key = filepath.Join(filepath.Dir(file), c.Key)
		}
		if c.ProxyJump != "" {
			at := decode.Value(vn, "proxy_jump")
			if at == nil {
				at = decode.Value(decode.Value(root, "defaults"), "proxy_jump")
			}
			if _, err := sshconfig.ParseJumps(c.ProxyJump); err != nil {
				errs.Add(decode.Errorf(decode.At(file, at), "host %s: proxy_jump: %w", decode.Quote(name), err))
			}
		}
		if c.Connection != "" && c.Connection != "ssh" && c.Connection != "local" {
			errs.Add(decode.Errorf(decode.At(file, vn), "host %s: connection must be ssh or local, got %s", decode.Quote(name), decode.Quote(c.Connection)))
		}
		data.Hosts = append(data.Hosts, &Host{
			Name: name, Address: c.Address, Port: c.Port, User: c.User, Key: c.Key,
			Connection: c.Connection, ProxyJump: c.ProxyJump, Vars: vars, Pos: decode.At(file, kn), KeyPos: keyPos,
		})
	})
	eachKey(&raw.Groups, file, "groups", &errs, func(name string, kn, vn *yaml.Node) {
		var g staticGroup
		if err := decode.Node(file, vn, &g, decode.Options{}); err != nil {
			errs.Add(err)
			return
		}
		vars, err := tmpl.ParseVars(file, &g.Vars)
		errs.Add(err)
		if name == "all" {
			errs.Add(decode.Errorf(decode.At(file, kn), `group "all" is every host: put its variables under the top-level vars:`))
			return
		}
		data.Groups = append(data.Groups, &Group{
			Name: name, Hosts: g.Hosts, Children: g.Children, Vars: vars, Pos: decode.At(file, kn),
			HostsAt: entries(file, decode.Value(vn, "hosts")), ChildrenAt: entries(file, decode.Value(vn, "children")),
		})
	})
	data.GroupVars, data.HostVars, err = ReadVarsDirs(file)
	errs.Add(err)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if _, err := New(data.Hosts, data.Groups); err != nil {
		return nil, err
	}
	return data, nil
}

// entries says where each name of a list is written.
func entries(file string, n *yaml.Node) map[string]decode.Pos {
	out := map[string]decode.Pos{}
	if n == nil {
		return out
	}
	for _, item := range n.Content {
		if _, seen := out[item.Value]; !seen {
			out[item.Value] = decode.At(file, item)
		}
	}
	return out
}

// CheckPort refuses ports no TCP connection can use, at n (where file sets
// port); who says whose port it is ("defaults: "), for plugins as for
// static files.
func CheckPort(file string, n *yaml.Node, who string, port int) error {
	if port < 1 || port > 65535 {
		return decode.Errorf(decode.At(file, n), "%sport must be between 1 and 65535, got %d", who, port)
	}
	return nil
}

func eachKey(n *yaml.Node, file, what string, errs *decode.List, fn func(name string, kn, vn *yaml.Node)) {
	if n.Kind == 0 || n.ShortTag() == "!!null" {
		return
	}
	if n.Kind != yaml.MappingNode {
		errs.Add(decode.Errorf(decode.At(file, n), "%s: want a mapping of names to settings", what))
		return
	}
	pairs, err := decode.Pairs(file, n)
	errs.Add(err)
	seen := map[string]bool{}
	for _, kv := range pairs {
		kn, vn := kv[0], kv[1]
		if seen[kn.Value] {
			errs.Add(decode.Errorf(decode.At(file, kn), "%s: %s is given twice", what, decode.Quote(kn.Value)))
			continue
		}
		seen[kn.Value] = true
		fn(kn.Value, kn, vn)
	}
}

func merge(c, def conn) conn {
	if c.Address == "" {
		c.Address = def.Address
	}
	if c.Port == 0 {
		c.Port = def.Port
	}
	if c.User == "" {
		c.User = def.User
	}
	if c.Key == "" {
		c.Key = def.Key
	}
	if c.Connection == "" {
		c.Connection = def.Connection
	}
	if c.ProxyJump == "" {
		c.ProxyJump = def.ProxyJump
	}
	return c
}
