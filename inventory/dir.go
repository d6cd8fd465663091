package inventory

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

// ignoredExts are the files Ansible leaves out of an inventory directory
// (its INVENTORY_IGNORE_EXTS), besides hidden files and backups.
var ignoredExts = []string{".pyc", ".pyo", ".swp", ".bak", ".rpm", ".md", ".txt", ".rst", ".orig", ".cfg", ".retry"}

// skipInDir says whether Ansible reads an entry of an inventory directory
// as an inventory: group_vars/ and host_vars/ are the directory's
// variables, not inventories.
func skipInDir(name string) bool {
	switch name {
	case "group_vars", "host_vars", "vars_plugins":
		return true
	}
	return ignored(name) || slices.Contains(ignoredExts, filepath.Ext(name))
}

// dirSource is every inventory in a directory (and its subdirectories),
// as Ansible reads -i DIR, with the group_vars/ and host_vars/ inside it.
type dirSource struct {
	dir   string
	parts []Provider
}

func (d dirSource) Offline() bool {
	for _, p := range d.parts {
		if o, ok := p.(Offline); !ok || !o.Offline() {
			return false
		}
	}
	return true
}

func (d dirSource) Load(ctx context.Context) (*Data, error) {
	out := &Data{}
	for _, p := range d.parts {
		data, err := p.Load(ctx)
		if err != nil {
			return nil, err
		}
		// Sources.Load joins the groups that several files define.
		out.Hosts = append(out.Hosts, data.Hosts...)
		out.Groups = append(out.Groups, data.Groups...)
	}
	var err error
	out.GroupVars, out.HostVars, err = ReadVarsDirs(filepath.Join(d.dir, "inventory"))
	if err != nil {
		return nil, err
	}
	return out, nil
}

// openDir opens the inventories of a directory. Ansible's (INI and YAML)
// are read together, so that a host may be defined in one file and put in
// groups by another; each of runbook's is read on its own.
func openDir(dir string) (Provider, error) {
	var ansible []string
	var parts []Provider
	var errs decode.List
	var walk func(dir string)
	walk = func(dir string) {
		entries, err := os.ReadDir(dir)
		if err != nil {
			errs.Add(fmt.Errorf("read inventory directory: %w", err))
			return
		}
		for _, e := range entries {
			if skipInDir(e.Name()) {
				continue
			}
			p := filepath.Join(dir, e.Name())
			info, err := os.Stat(p) // through symbolic links
			if err != nil {
				errs.Add(fmt.Errorf("read inventory directory: %w", err))
				continue
			}
			if info.IsDir() {
				walk(p)
				continue
			}
			kind, err := sniffFile(p)
			if err != nil {
				errs.Add(err)
				continue
			}
			if kind == "ansible" {
				ansible = append(ansible, p)
				continue
			}
			prov, err := Open(p)
			if err != nil {
				errs.Add(err)
				continue
			}
			parts = append(parts, prov)
		}
	}
	walk(dir)
	if err := errs.Err(); err != nil {
		return nil, err
	}
	if len(ansible) > 0 {
		a := ansibleFiles{files: ansible}
		if err := check(a); err != nil {
			return nil, err
		}
		parts = append([]Provider{a}, parts...)
	}
	if len(parts) == 0 {
		return nil, fmt.Errorf("inventory directory %s holds no inventory file (%s and hidden files are left out): give a file, or put one in it", dir, strings.Join(append([]string{"group_vars/", "host_vars/", "name~"}, ignoredExts...), ", "))
	}
	return dirSource{dir: dir, parts: parts}, nil
}

// sniffFile says whether a file is an Ansible inventory ("ansible") or
// one of runbook's ("runbook").
func sniffFile(file string) (string, error) {
	data, err := decode.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("read inventory: %w", err)
	}
	if sniffINI(data) {
		return "ansible", nil
	}
	doc, err := decode.Parse(file, data)
	if err != nil {
		return "", err
	}
	if isAnsibleYAML(docRoot(doc)) {
		return "ansible", nil
	}
	return "runbook", nil
}

func docRoot(doc *yaml.Node) *yaml.Node {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		return doc.Content[0]
	}
	return doc
}
