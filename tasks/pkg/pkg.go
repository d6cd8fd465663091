// Package pkg is the `package` task: packages installed, at their latest
// version, or absent, through apt (Debian, Ubuntu) or dnf (RHEL-likes).
package pkg

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "package",
		Doc: "Packages installed, latest or absent, with apt on Debian and Ubuntu or dnf on RHEL-likes (detected on the host). " +
			"Check mode asks the package database (dpkg/rpm, and apt-cache/dnf for the newest available version); it does not guess.",
		New: func() tasks.Task { return new(Package) },
	})
}

// Package is the `package` task's parameters.
type Package struct {
	Name        []string `yaml:"name" required:"true" doc:"a package or a list of packages; name=version pins a version, as apt writes it (installed in place of another version, up or down)"`
	State       string   `yaml:"state" doc:"present (default), latest (upgrade to the newest available) or absent"`
	UpdateCache bool     `yaml:"update_cache" doc:"refresh the package lists (apt-get update) before installing"`
}

// Validate checks the parameters.
func (p *Package) Validate() error {
	if len(p.Name) == 0 {
		return errors.New("name: give at least one package")
	}
	for _, n := range p.Name {
		if n == "" || strings.ContainsAny(n, " '\"$;&|`\\") || strings.HasPrefix(n, "-") {
			return fmt.Errorf("%s is not a package name", decode.Quote(n))
		}
	}
	switch p.State {
	case "", "present", "latest", "absent":
	default:
		return fmt.Errorf("state must be present, latest or absent, got %s", decode.Quote(p.State))
	}
	for _, n := range p.Name {
		name, pin, pinned := strings.Cut(n, "=")
		switch {
		case pinned && (name == "" || pin == ""):
			return fmt.Errorf("%s: write a pinned version as name=version", decode.Quote(n))
		case pinned && p.State != "" && p.State != "present":
			return fmt.Errorf("%s: a pinned version is for state present, not %s", decode.Quote(n), p.State)
		}
	}
	return nil
}

// split is a package's name and the version it is pinned to, if any.
func split(n string) (name, pin string) {
	name, pin, _ = strings.Cut(n, "=")
	return name, pin
}

// pkgState is what the database says of one package.
type pkgState struct {
	installed string // version, "" when not installed
	candidate string // newest available, for latest
}

// probe asks the host which manager it has and, in the same command, the
// state of every package.
func (p *Package) probe() string {
	names := make([]string, len(p.Name))
	for i, n := range p.Name {
		name, _ := split(n)
		names[i] = tasks.Quote(name)
	}
	list := strings.Join(names, " ")
	latest := p.State == "latest"
	return fmt.Sprintf(`if command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  echo manager=apt
  for p in %[1]s; do
    v=$(dpkg-query -W -f='${db:Status-Status} ${Version}' "$p" 2>/dev/null)
    case "$v" in installed\ *) echo "installed $p ${v#installed }";; *) echo "installed $p -";; esac
  done
  if [ %[2]t = true ]; then
    for p in %[1]s; do echo "candidate $p $(apt-cache policy "$p" 2>/dev/null | sed -n 's/^ *Candidate: //p')"; done
  fi
elif command -v rpm >/dev/null 2>&1 && command -v dnf >/dev/null 2>&1; then
  echo manager=dnf
  for p in %[1]s; do echo "installed $p $(rpm -q --qf '%%{EPOCHNUM}:%%{VERSION}-%%{RELEASE}' "$p" 2>/dev/null || echo -)"; done
  if [ %[2]t = true ]; then
    for p in %[1]s; do echo "candidate $p $(dnf -q repoquery --latest-limit 1 --qf '%%{EPOCH}:%%{VERSION}-%%{RELEASE}' "$p" 2>/dev/null | tail -n1)"; done
  fi
else
  echo manager=none
fi`, list, latest)
}

// Check asks the package database.
func (p *Package) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	res, err := h.Conn.Run(ctx, p.probe(), nil)
	if err != nil {
		return nil, fmt.Errorf("ask the package database: %w", err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("ask the package database: %s", res.Failure())
	}
	manager, states := parse(string(res.Stdout))
	if manager == "none" || manager == "" {
		return nil, errors.New("no supported package manager on the host (apt or dnf)")
	}
	var todo []string
	c := &tasks.Change{}
	versions := map[string]any{}
	for _, full := range p.Name {
		n, pin := split(full)
		s := states[n]
		versions[n] = s.installed
		switch p.State {
		case "absent":
			if s.installed != "" {
				c.Summary = append(c.Summary, fmt.Sprintf("- remove %s %s", n, s.installed))
				todo = append(todo, n)
			}
		case "latest":
			switch {
			case s.candidate == "" || s.candidate == "(none)":
				return nil, tasks.DependsOnEarlier(fmt.Errorf("package %s is not available from the host's package sources", n))
			case s.installed == "":
				c.Summary = append(c.Summary, fmt.Sprintf("+ install %s %s", n, s.candidate))
				todo = append(todo, n)
			case s.installed != s.candidate && !sameEpochless(s.installed, s.candidate):
				c.Summary = append(c.Summary, fmt.Sprintf("~ upgrade %s %s -> %s", n, s.installed, s.candidate))
				todo = append(todo, n)
			}
		default:
			switch {
			case s.installed == "":
				c.Summary = append(c.Summary, "+ install "+full)
				todo = append(todo, full)
			case pin != "" && !sameEpochless(s.installed, pin):
				c.Summary = append(c.Summary, fmt.Sprintf("~ %s %s -> %s", n, s.installed, pin))
				todo = append(todo, full)
			}
		}
	}
	c.Result = map[string]any{"versions": versions, "manager": manager}
	if len(todo) == 0 {
		return c, nil
	}
	cmd := p.command(manager, todo)
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		res, err := h.Conn.Run(ctx, cmd, nil)
		if err != nil {
			return tasks.Done{}, err
		}
		if !res.OK() {
			return tasks.Done{}, fmt.Errorf("%s: %s", cmd, res.Failure())
		}
		return tasks.Done{Result: map[string]any{"manager": manager}}, nil
	}
	return c, nil
}

func (p *Package) command(manager string, names []string) string {
	quoted := make([]string, len(names))
	pinned := false
	for i, n := range names {
		name, pin := split(n)
		switch {
		case pin != "" && manager == "dnf":
			n = name + "-" + strings.TrimPrefix(pin, "0:") // dnf's name-version
		case pin != "":
			pinned = true
		}
		quoted[i] = tasks.Quote(n)
	}
	list := strings.Join(quoted, " ")
	if manager == "dnf" {
		switch p.State {
		case "absent":
			return "dnf -y -q remove " + list
		case "latest":
			return "dnf -y -q install " + list + " && dnf -y -q upgrade " + list
		}
		return "dnf -y -q install " + list
	}
	apt := "DEBIAN_FRONTEND=noninteractive apt-get -y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"
	prefix := ""
	if p.UpdateCache {
		prefix = "apt-get -q update && "
	}
	switch p.State {
	case "absent":
		return apt + " remove " + list
	case "latest":
		return prefix + apt + " install --no-install-recommends --only-upgrade " + list + " && " + apt + " install --no-install-recommends " + list
	}
	if pinned {
		// A pin may be older than what is installed.
		apt += " --allow-downgrades"
	}
	return prefix + apt + " install --no-install-recommends " + list
}

func parse(out string) (string, map[string]pkgState) {
	manager := ""
	states := map[string]pkgState{}
	for _, line := range strings.Split(out, "\n") {
		if m, ok := strings.CutPrefix(line, "manager="); ok {
			manager = m
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		s := states[f[1]]
		v := ""
		if len(f) > 2 && f[2] != "-" {
			v = f[2]
		}
		switch f[0] {
		case "installed":
			s.installed = v
		case "candidate":
			s.candidate = v
		}
		states[f[1]] = s
	}
	return manager, states
}

// sameEpochless compares versions where one side may lack the epoch "0:"
// (rpm writes it, dpkg and a pin may not).
func sameEpochless(a, b string) bool {
	return strings.TrimPrefix(a, "0:") == strings.TrimPrefix(b, "0:")
}
