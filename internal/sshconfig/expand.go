package sshconfig

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"os"
	osuser "os/user"
	"path/filepath"
	"strconv"
	"strings"
)

// Tokens are what the %-tokens of IdentityFile and UserKnownHostsFile
// stand for (ssh_config(5), TOKENS).
type Tokens struct {
	Alias string // %n: the name given to ssh
	Host  string // %h: the host name connected to (HostName)
	Port  int    // %p
	User  string // %r: the remote user
}

// Expand expands a path as OpenSSH does: a leading ~ or ~user, ${VAR},
// and the tokens %%, %C, %d, %h, %i, %k, %L, %l, %n, %p, %r and %u. Any
// other token, or an unset variable, is an error.
func Expand(s string, t Tokens) (string, error) {
	s, err := expandEnv(s)
	if err != nil {
		return "", err
	}
	if s, err = expandTokens(s, t); err != nil {
		return "", err
	}
	return expandTilde(s)
}

func expandTokens(s string, t Tokens) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			b.WriteByte(s[i])
			continue
		}
		if i+1 == len(s) {
			return "", fmt.Errorf("%q ends in a lone %%: write %%%% for a %%", s)
		}
		i++
		v, err := token(s[i], t)
		if err != nil {
			return "", fmt.Errorf("%q: %w", s, err)
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

func token(c byte, t Tokens) (string, error) {
	switch c {
	case '%':
		return "%", nil
	case 'd':
		return homeDir(), nil
	case 'h', 'k':
		return t.Host, nil
	case 'n':
		return t.Alias, nil
	case 'p':
		return strconv.Itoa(t.Port), nil
	case 'r':
		return t.User, nil
	case 'u':
		u, err := osuser.Current()
		if err != nil {
			return "", fmt.Errorf("%%u: %w", err)
		}
		return u.Username, nil
	case 'i':
		return strconv.Itoa(os.Getuid()), nil
	case 'l', 'L':
		h, err := os.Hostname()
		if err != nil {
			return "", fmt.Errorf("%%%c: %w", c, err)
		}
		if c == 'L' {
			h, _, _ = strings.Cut(h, ".")
		}
		return h, nil
	case 'C':
		h, _ := os.Hostname()
		sum := sha1.Sum([]byte(h + t.Host + strconv.Itoa(t.Port) + t.User))
		return hex.EncodeToString(sum[:]), nil
	}
	return "", fmt.Errorf("token %%%c is not one runbook expands (%%%%, %%C, %%d, %%h, %%i, %%k, %%L, %%l, %%n, %%p, %%r, %%u)", c)
}

func expandEnv(s string) (string, error) {
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("%q: ${ without }", s)
		}
		name := s[i+2 : i+end]
		v, ok := os.LookupEnv(name)
		if !ok {
			return "", fmt.Errorf("%q: environment variable %s is not set", s, name)
		}
		b.WriteString(s[:i])
		b.WriteString(v)
		s = s[i+end+1:]
	}
}

func expandTilde(s string) (string, error) {
	if !strings.HasPrefix(s, "~") {
		return s, nil
	}
	name, rest, _ := strings.Cut(s[1:], "/")
	home := homeDir()
	if name != "" {
		u, err := osuser.Lookup(name)
		if err != nil {
			return "", fmt.Errorf("%q: %w", s, err)
		}
		home = u.HomeDir
	}
	return filepath.Join(home, rest), nil
}
