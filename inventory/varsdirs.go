package inventory

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
)

// NamedVars are the variables that group_vars/ or host_vars/ give one
// group or host.
type NamedVars struct {
	Name string
	Vars map[string]tmpl.Var
	Pos  decode.Pos // the file or directory they come from
}

// varsExts are the files group_vars/ and host_vars/ read, as Ansible's
// host_group_vars does (which also reads files without an extension: a
// host name may hold dots, so those could not be told apart).
var varsExts = []string{".yaml", ".yml", ".json"}

// ReadVarsDirs reads group_vars/ and host_vars/ beside an inventory file,
// for the plugins whose file sits among them (Data.GroupVars, HostVars):
// in each, NAME.yaml (.yml, .json) or a directory NAME/ of such files,
// merged in lexical order, later files winning. Hidden files and backups
// (name~) are left out, as are other files.
func ReadVarsDirs(invFile string) (groups, hosts []NamedVars, err error) {
	var errs decode.List
	dir := filepath.Dir(invFile)
	groups = readVarsDir(filepath.Join(dir, "group_vars"), &errs)
	hosts = readVarsDir(filepath.Join(dir, "host_vars"), &errs)
	return groups, hosts, errs.Err()
}

func readVarsDir(dir string, errs *decode.List) []NamedVars {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		errs.Add(fmt.Errorf("read %s: %w", dir, err))
		return nil
	}
	var out []NamedVars
	from := map[string]string{} // name -> the entry that gave it
	for _, e := range entries {
		entry := e.Name()
		if ignored(entry) {
			continue
		}
		p := filepath.Join(dir, entry)
		info, err := os.Stat(p) // through symbolic links
		if err != nil {
			errs.Add(fmt.Errorf("read %s: %w", p, err))
			continue
		}
		name := entry
		if !info.IsDir() {
			ext := filepath.Ext(entry)
			if !slices.Contains(varsExts, ext) {
				continue
			}
			name = strings.TrimSuffix(entry, ext)
		}
		if prev, dup := from[name]; dup {
			errs.Add(fmt.Errorf("%s and %s both hold the variables of %s: keep one", filepath.Join(dir, prev), p, decode.Quote(name)))
			continue
		}
		from[name] = entry
		vars := map[string]tmpl.Var{}
		if info.IsDir() {
			for _, f := range varsFilesIn(p, errs) {
				maps.Copy(vars, readVars(f, errs))
			}
		} else {
			vars = readVars(p, errs)
		}
		out = append(out, NamedVars{Name: name, Vars: vars, Pos: decode.Pos{File: p}})
	}
	return out
}

// varsFilesIn lists the vars files under dir, subdirectories included, in
// lexical order of their paths.
func varsFilesIn(dir string, errs *decode.List) []string {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if ignored(d.Name()) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.IsDir() && slices.Contains(varsExts, filepath.Ext(p)) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		errs.Add(fmt.Errorf("read %s: %w", dir, err))
	}
	return out
}

// ignored: hidden files and editors' backups.
func ignored(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, "~")
}

func readVars(file string, errs *decode.List) map[string]tmpl.Var {
	data, err := decode.ReadFile(file)
	if err != nil {
		errs.Add(fmt.Errorf("read %s: %w", file, err))
		return nil
	}
	vars, err := tmpl.ParseVarsFile(file, data)
	errs.Add(err)
	return vars
}

// attachVars gives each group and host the variables group_vars/ and
// host_vars/ hold for it, the files of later inventories winning. Hosts
// are copied before they are changed: providers may keep theirs. Names
// that are no group or host are not an error, as in Ansible, but a
// warning: they are most likely a typo or a group that went away.
func attachVars(hosts []*Host, groups []*Group, groupVars, hostVars []NamedVars) []*decode.Error {
	var warnings []*decode.Error
	byGroup := map[string]*Group{}
	for _, g := range groups {
		byGroup[g.Name] = g
	}
	for _, nv := range groupVars {
		g, ok := byGroup[nv.Name]
		if !ok {
			warnings = append(warnings, decode.Errorf(nv.Pos, "no group %s in the inventory: these variables are not used%s", decode.Quote(nv.Name), decode.Suggest(nv.Name, slices.Collect(maps.Keys(byGroup)))))
			continue
		}
		if g.FileVars == nil {
			g.FileVars = map[string]tmpl.Var{}
		}
		maps.Copy(g.FileVars, nv.Vars)
	}
	byHost := map[string]int{}
	var names []string
	for i, h := range hosts {
		byHost[h.Name] = i
		names = append(names, h.Name)
	}
	for _, nv := range hostVars {
		i, ok := byHost[nv.Name]
		if !ok {
			warnings = append(warnings, decode.Errorf(nv.Pos, "no host %s in the inventory: these variables are not used%s", decode.Quote(nv.Name), decode.Suggest(nv.Name, names)))
			continue
		}
		h := *hosts[i]
		h.FileVars = maps.Clone(h.FileVars)
		if h.FileVars == nil {
			h.FileVars = map[string]tmpl.Var{}
		}
		maps.Copy(h.FileVars, nv.Vars)
		hosts[i] = &h
	}
	return warnings
}
