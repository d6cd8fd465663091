package sshconfig

import (
	"cmp"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Jump is one hop of a ProxyJump: a bastion, as [user@]host[:port] or
// ssh://[user@]host[:port] says it.
type Jump struct {
	User string // "": as the configuration says for Host, else the default
	Host string // an alias, looked up in the configuration as ssh does
	Port int    // 0: as the configuration says, else 22
}

func (j Jump) String() string {
	s := j.Host
	if strings.Contains(s, ":") {
		s = "[" + s + "]"
	}
	if j.User != "" {
		s = j.User + "@" + s
	}
	if j.Port != 0 {
		s += ":" + strconv.Itoa(j.Port)
	}
	return s
}

// ParseJumps reads a ProxyJump value: hops separated by commas, the first
// one connected to first. "none", or nothing, is no hop.
func ParseJumps(s string) ([]Jump, error) {
	if t := strings.TrimSpace(s); t == "" || strings.EqualFold(t, "none") {
		return nil, nil
	}
	var out []Jump
	for _, hop := range strings.Split(s, ",") {
		j, err := parseJump(strings.TrimSpace(hop))
		if err != nil {
			return nil, fmt.Errorf("ProxyJump %q: %w", s, err)
		}
		out = append(out, j)
	}
	return out, nil
}

func parseJump(s string) (Jump, error) {
	var j Jump
	rest := strings.TrimPrefix(s, "ssh://")
	if rest == "" {
		return j, fmt.Errorf("an empty hop: write [user@]host[:port], comma-separated")
	}
	if strings.ContainsAny(rest, " \t/'\"") {
		return j, fmt.Errorf("hop %q: write [user@]host[:port]", s)
	}
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		j.User, rest = rest[:i], rest[i+1:]
		if j.User == "" {
			return j, fmt.Errorf("hop %q: no user before @", s)
		}
	}
	host, port := rest, ""
	switch {
	case strings.HasPrefix(rest, "["):
		h, p, err := net.SplitHostPort(rest)
		if err != nil {
			if !strings.HasSuffix(rest, "]") {
				return j, fmt.Errorf("hop %q: %w", s, err)
			}
			h = strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]")
		}
		host, port = h, p
	case strings.Count(rest, ":") == 1:
		host, port, _ = strings.Cut(rest, ":")
	}
	if host == "" {
		return j, fmt.Errorf("hop %q: no host", s)
	}
	j.Host = host
	if port != "" {
		n, err := parsePort(port)
		if err != nil {
			return j, fmt.Errorf("hop %q: %w", s, err)
		}
		j.Port = n
	}
	return j, nil
}

// FromArgs reads the bastion out of ssh's command-line options, as
// Ansible's ansible_ssh_common_args gives them: -J HOPS, -o ProxyJump=HOPS,
// or -o ProxyCommand="ssh -W %h:%p [user@]bastion" (the form Ansible's
// documentation shows), which is the same as a jump. found is false when
// the options say nothing of a bastion. Other options are not read.
func FromArgs(args string) (proxyJump string, found bool, err error) {
	ws, err := words(args)
	if err != nil {
		return "", false, err
	}
	for i := 0; i < len(ws); i++ {
		w := ws[i]
		var opt string
		switch {
		case w == "-J" || w == "-o":
			if i+1 == len(ws) {
				return "", false, fmt.Errorf("%s with no value", w)
			}
			i++
			if w == "-J" {
				opt = "proxyjump=" + ws[i]
			} else {
				opt = ws[i]
			}
		case strings.HasPrefix(w, "-J"):
			opt = "proxyjump=" + w[2:]
		case strings.HasPrefix(w, "-o"):
			opt = w[2:]
		default:
			continue
		}
		key, value, ok := strings.Cut(opt, "=")
		if !ok {
			key, value, _ = strings.Cut(opt, " ")
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "proxyjump":
			if _, err := ParseJumps(value); err != nil {
				return "", false, err
			}
			proxyJump, found = value, true
		case "proxycommand":
			j, err := proxyCommand(value)
			if err != nil {
				return "", false, err
			}
			proxyJump, found = j, true
		}
	}
	return proxyJump, found, nil
}

// proxyCommand reads `ssh [-q] [-p PORT] [-l USER] -W %h:%p [user@]host`
// as the jump it is; runbook runs no other command to connect.
func proxyCommand(cmd string) (string, error) {
	refuse := fmt.Errorf("ProxyCommand %q: runbook runs no command to connect; write -o ProxyJump=[user@]bastion[:port] instead", cmd)
	if strings.EqualFold(cmd, "none") {
		return "none", nil
	}
	ws, err := words(cmd)
	if err != nil || len(ws) == 0 || (ws[0] != "ssh" && !strings.HasSuffix(ws[0], "/ssh")) {
		return "", refuse
	}
	var j Jump
	forward := false
	for i := 1; i < len(ws); i++ {
		switch w := ws[i]; w {
		case "-q", "-T", "-x", "-a", "-C", "-4", "-6", "-N":
		case "-W", "-p", "-l":
			if i+1 == len(ws) {
				return "", refuse
			}
			i++
			switch w {
			case "-W":
				forward = ws[i] == "%h:%p" || ws[i] == "[%h]:%p"
			case "-p":
				if j.Port, err = parsePort(ws[i]); err != nil {
					return "", refuse
				}
			case "-l":
				j.User = ws[i]
			}
		default:
			if strings.HasPrefix(w, "-") || j.Host != "" {
				return "", refuse
			}
			h, err := parseJump(w)
			if err != nil {
				return "", refuse
			}
			j.Host = h.Host
			j.User = cmp.Or(h.User, j.User)
			if h.Port != 0 {
				j.Port = h.Port
			}
		}
	}
	if !forward || j.Host == "" {
		return "", refuse
	}
	return j.String(), nil
}

// words splits s as ssh splits a configuration value: on blanks, with
// double or single quotes grouping, and removed.
func words(s string) ([]string, error) {
	var out []string
	var cur strings.Builder
	in, quote := false, rune(0)
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, in = r, true
		case r == ' ' || r == '\t':
			if in {
				out = append(out, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unbalanced quote in %q", s)
	}
	if in {
		out = append(out, cur.String())
	}
	return out, nil
}
