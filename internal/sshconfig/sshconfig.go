// Package sshconfig reads OpenSSH's client configuration (ssh_config(5)),
// the settings of it that runbook honours: HostName, User, Port,
// IdentityFile, ProxyJump, UserKnownHostsFile and StrictHostKeyChecking,
// through Include. Files are parsed by github.com/kevinburke/ssh_config;
// this package checks what that parser lets through (a keyword with no
// value, a port that is no number) so that a mistake is an error naming
// the file and line before any host is contacted.
package sshconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	sshconfig "github.com/kevinburke/ssh_config"
)

// SystemFile is the system-wide configuration, read after the user's.
const SystemFile = "/etc/ssh/ssh_config"

// Config is the ssh_config files of a run, in the order OpenSSH reads
// them: for each setting, the first value found wins.
type Config struct {
	files []file
}

type file struct {
	name string
	cfg  *sshconfig.Config
}

// Load reads what `ssh` reads: with path (ssh -F), that file alone, which
// must exist; without, ~/.ssh/config and then /etc/ssh/ssh_config, each
// if it exists.
func Load(path string) (*Config, error) {
	if path != "" {
		return Files(path)
	}
	var paths []string
	if home := homeDir(); home != "" {
		paths = append(paths, filepath.Join(home, ".ssh", "config"))
	}
	paths = append(paths, SystemFile)
	var found []string
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read ssh config %s: %w", p, err)
		}
	}
	return Files(found...)
}

// Files reads the given files, each of which must exist, earlier ones
// winning.
func Files(paths ...string) (*Config, error) {
	c := &Config{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read ssh config: %w", err)
		}
		cfg, err := parse(p, data, 0)
		if err != nil {
			return nil, err
		}
		c.files = append(c.files, file{p, cfg})
	}
	return c, nil
}

// Host is what the configuration says about one host, as `ssh ALIAS`
// would use it. Empty fields are not set.
type Host struct {
	HostName string
	User     string
	Port     int
	// IdentityFiles and KnownHostsFiles (UserKnownHostsFile) are as
	// written: Expand them once host, port and user are known, as their
	// tokens (%h, %r) stand for those.
	IdentityFiles   []string
	KnownHostsFiles []string
	// ProxyJump is as written; "none" says no jump, and stops one that a
	// later Host block or file would set.
	ProxyJump string
	// StrictHostKeyChecking is yes, no, accept-new or ask.
	StrictHostKeyChecking string
	// From names the files that said anything, for messages.
	From string
}

// Lookup returns the settings for alias, the name given to ssh. A nil
// Config says nothing.
func (c *Config) Lookup(alias string) (Host, error) {
	var h Host
	if c == nil {
		return h, nil
	}
	var from []string
	get := func(key string) (string, error) {
		for _, f := range c.files {
			v, err := f.cfg.Get(alias, key)
			if err != nil {
				return "", fmt.Errorf("ssh config %s: %s for %s: %w", f.name, key, alias, err)
			}
			if v != "" {
				from = appendNew(from, f.name)
				return v, nil
			}
		}
		return "", nil
	}
	var err error
	var port, known, strict string
	for _, kv := range []struct {
		key string
		to  *string
	}{
		{"HostName", &h.HostName}, {"User", &h.User}, {"Port", &port}, {"ProxyJump", &h.ProxyJump},
		{"UserKnownHostsFile", &known}, {"StrictHostKeyChecking", &strict},
	} {
		if *kv.to, err = get(kv.key); err != nil {
			return Host{}, err
		}
	}
	for _, f := range c.files {
		ids, err := f.cfg.GetAll(alias, "IdentityFile")
		if err != nil {
			return Host{}, fmt.Errorf("ssh config %s: IdentityFile for %s: %w", f.name, alias, err)
		}
		if len(ids) > 0 {
			from = appendNew(from, f.name)
		}
		h.IdentityFiles = append(h.IdentityFiles, ids...)
	}
	if h.HostName != "" {
		// HostName may say %h for the alias, and %% for a %.
		h.HostName = strings.NewReplacer("%h", alias, "%%", "%").Replace(h.HostName)
	}
	if port != "" {
		if h.Port, err = parsePort(port); err != nil {
			return Host{}, fmt.Errorf("ssh config: Port for %s: %w", alias, err)
		}
	}
	if known != "" {
		if h.KnownHostsFiles, err = words(known); err != nil {
			return Host{}, fmt.Errorf("ssh config: UserKnownHostsFile for %s: %w", alias, err)
		}
	}
	if strict != "" {
		if h.StrictHostKeyChecking, err = strictness(strict); err != nil {
			return Host{}, fmt.Errorf("ssh config: StrictHostKeyChecking for %s: %w", alias, err)
		}
	}
	h.From = strings.Join(from, ", ")
	return h, nil
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func parsePort(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("want a port between 1 and 65535, got %q", s)
	}
	return n, nil
}

// strictness reads StrictHostKeyChecking as OpenSSH does (off and false
// are no; true is yes).
func strictness(s string) (string, error) {
	switch strings.ToLower(s) {
	case "yes", "true":
		return "yes", nil
	case "no", "off", "false":
		return "no", nil
	case "accept-new":
		return "accept-new", nil
	case "ask":
		return "ask", nil
	}
	return "", fmt.Errorf("want yes, accept-new, no or ask, got %q", s)
}
