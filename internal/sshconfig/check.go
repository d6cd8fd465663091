package sshconfig

import (
	"bytes"
	"fmt"
	"os"
	osuser "os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	sshconfig "github.com/kevinburke/ssh_config"
	"github.com/runbookdev/runbook/internal/decode"
)

// maxInclude is how deep Includes nest, as the parser allows.
const maxInclude = 5

// parse checks a file line by line, and the files it includes, then
// parses it. The parser takes a keyword with no value, an unbalanced
// quote or a port that is no number without a word; OpenSSH refuses
// them, and so does runbook, saying where.
//
// Include paths are made absolute before the file is parsed, as OpenSSH
// reads them (relative to ~/.ssh, or to /etc/ssh in the system's files):
// the parser would read the system file's relative ones from ~/.ssh.
func parse(path string, data []byte, depth int) (*sshconfig.Config, error) {
	lines := bytes.Split(data, []byte("\n"))
	var errs decode.List
	for i, raw := range lines {
		line := strings.TrimRight(string(raw), "\r")
		key, value, col, ok := splitLine(line)
		if !ok {
			continue
		}
		at := decode.Pos{File: path, Line: i + 1, Col: col}
		if key == "" {
			errs.Add(decode.Errorf(at, "a line starts with '=': want KEYWORD VALUE"))
			continue
		}
		if value == "" {
			errs.Add(decode.Errorf(at, "%s has no value", key))
			continue
		}
		if strings.Count(value, `"`)%2 != 0 {
			errs.Add(decode.Errorf(at, "%s: unbalanced quote in %q", key, value))
			continue
		}
		err := checkValue(path, strings.ToLower(key), value, depth)
		if err == nil {
			if strings.EqualFold(key, "Include") {
				lines[i] = []byte("# Include matched no file")
				if paths := includePaths(path, value); len(paths) > 0 {
					lines[i] = []byte("Include " + strings.Join(paths, " "))
				}
			}
			continue
		}
		if _, nested := err.(*decode.List); nested {
			errs.Add(err) // an included file's own, which says where
		} else {
			errs.Add(decode.Errorf(at, "%s: %w", key, err))
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	cfg, err := sshconfig.DecodeBytes(bytes.Join(lines, []byte("\n")))
	if err != nil {
		return nil, parseError(path, err)
	}
	return cfg, nil
}

// splitLine splits a line into its keyword and value (keyword value, or
// keyword=value), without a trailing comment; ok is false for blank lines
// and comments. col is where the keyword starts.
func splitLine(line string) (key, value string, col int, ok bool) {
	trimmed := strings.TrimLeft(line, " \t")
	if trimmed == "" || trimmed[0] == '#' {
		return "", "", 0, false
	}
	col = len(line) - len(trimmed) + 1
	end := strings.IndexAny(trimmed, " \t=")
	if end < 0 {
		return trimmed, "", col, true
	}
	key, rest := trimmed[:end], strings.TrimLeft(trimmed[end:], " \t")
	rest = strings.TrimLeft(strings.TrimPrefix(rest, "="), " \t")
	if i := strings.Index(rest, " #"); i >= 0 {
		rest = rest[:i]
	}
	if strings.HasPrefix(rest, "#") {
		rest = ""
	}
	return key, strings.TrimSpace(rest), col, true
}

// checkValue checks the value of a keyword runbook reads; the others are
// OpenSSH's business.
func checkValue(path, key, value string, depth int) error {
	switch key {
	case "port":
		_, err := parsePort(value)
		return err
	case "stricthostkeychecking":
		_, err := strictness(value)
		return err
	case "proxyjump":
		if strings.EqualFold(value, "none") {
			return nil
		}
		_, err := ParseJumps(value)
		return err
	case "identityfile", "userknownhostsfile":
		files, err := words(value)
		if err != nil {
			return err
		}
		for _, f := range files {
			// Variables are read when the file is used, as OpenSSH does.
			if _, err := expandTokens(f, Tokens{Alias: "h", Host: "h", Port: 22, User: "u"}); err != nil {
				return err
			}
		}
	case "include":
		if depth+1 > maxInclude {
			return fmt.Errorf("Includes nest more than %d deep: does a file include itself?", maxInclude)
		}
		var errs decode.List
		for _, inc := range includePaths(path, value) {
			data, err := os.ReadFile(inc)
			if err != nil {
				return fmt.Errorf("read %s: %w", inc, err)
			}
			if _, err := parse(inc, data, depth+1); err != nil {
				errs.Add(err)
			}
		}
		if errs.Len() > 0 {
			return &errs
		}
	}
	return nil
}

// includePaths expands an Include's globs, in order, as OpenSSH does:
// relative paths are under ~/.ssh, or /etc/ssh for the system's files. A
// glob that matches nothing is no error.
func includePaths(from, value string) []string {
	var out []string
	for _, g := range strings.Fields(value) {
		switch {
		case filepath.IsAbs(g):
		case strings.HasPrefix(filepath.Clean(from), "/etc/ssh"):
			g = filepath.Join("/etc/ssh", g)
		case strings.HasPrefix(g, "~/"):
			g = filepath.Join(homeDir(), g[2:])
		default:
			g = filepath.Join(homeDir(), ".ssh", g)
		}
		matches, err := filepath.Glob(g)
		if err != nil {
			// A malformed pattern matches nothing, as glob(3) says.
			continue
		}
		for _, m := range matches {
			if !contains(out, m) {
				out = append(out, m)
			}
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseError says where in path the parser stopped: it says "(line, col)"
// and no file.
func parseError(path string, err error) error {
	m := posRE.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("read ssh config %s: %w", path, err)
	}
	line, _ := strconv.Atoi(m[1])
	col, _ := strconv.Atoi(m[2])
	msg := strings.TrimSpace(strings.TrimPrefix(m[3], "ssh_config: "))
	if strings.Contains(msg, "Match") {
		msg += " (runbook reads Host, Match host and Match all blocks)"
	}
	return decode.Errorf(decode.Pos{File: path, Line: line, Col: col}, "%s", msg)
}

var posRE = regexp.MustCompile(`^\((\d+), (\d+)\): (?s)(.*)$`)

// homeDir is the user's home as OpenSSH finds it: from the password
// database, not $HOME.
func homeDir() string {
	if u, err := osuser.Current(); err == nil && u.HomeDir != "" {
		return u.HomeDir
	}
	home, _ := os.UserHomeDir()
	return home
}
