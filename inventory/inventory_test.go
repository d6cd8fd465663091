package inventory_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/inventory"
	_ "github.com/runbookdev/runbook/inventory/equinixmetal"
)

const hosts = `
defaults: {user: deploy, port: 2222, key: keys/id}
vars: {tier: any, region: eu}
hosts:
  web01: {address: 10.0.0.1, vars: {tier: host}}
  web02:
  db01: {port: 22, user: root}
  lb01:
groups:
  web: {hosts: [web01, web02], vars: {tier: web}}
  db: {hosts: [db01]}
  prod: {children: [web, db], vars: {tier: prod, env: prod}}
  canary: {hosts: [web02], vars: {tier: canary}}
`

func load(t *testing.T, content string) (*inventory.Inventory, string) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hosts.yaml")
	os.WriteFile(p, []byte(content), 0o644)
	prov, err := inventory.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Sources{prov}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return inv, p
}

func names(hs []*inventory.Host) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func TestMatch(t *testing.T) {
	inv, _ := load(t, hosts)
	tests := map[string][]string{
		"all":          {"web01", "web02", "db01", "lb01"},
		"web":          {"web01", "web02"},
		"prod":         {"web01", "web02", "db01"},
		"web01,db":     {"web01", "db01"},
		"prod:!canary": {"web01", "db01"},
		"prod:&canary": {"web02"},
		"web0*":        {"web01", "web02"},
		"all:!prod":    {"lb01"},
		"local":        {"local"},
	}
	for pattern, want := range tests {
		got, unmatched, err := inv.Match([]string{pattern})
		if diff := cmp.Diff(want, names(got)); diff != "" || len(unmatched) > 0 || err != nil {
			t.Errorf("Match(%q) (-want +got):\n%s unmatched=%v err=%v", pattern, diff, unmatched, err)
		}
	}
}

// TestMatchReportsEveryTermThatMatchesNothing: a typo in an exclusion
// (all:!dbb) would otherwise run on the very hosts it meant to leave out.
func TestMatchReportsEveryTermThatMatchesNothing(t *testing.T) {
	inv, _ := load(t, hosts)
	tests := map[string][]string{
		"all:!dbb":       {`"all:!dbb": no host or group "dbb"; did you mean "db"?`},
		"prod:&canry":    {`"prod:&canry": no host or group "canry"; did you mean "canary"?`},
		"weeb":           {`"weeb": no host or group "weeb"; did you mean "web"?`},
		"web,nosuchhost": {`"web,nosuchhost": no host or group "nosuchhost"`},
		"db9*:!x*":       {`"db9*:!x*": no host or group matches "db9*"`, `"db9*:!x*": no host or group matches "x*"`},
	}
	for pattern, want := range tests {
		_, unmatched, err := inv.Match([]string{pattern})
		var got []string
		for _, u := range unmatched {
			got = append(got, u.String())
		}
		if diff := cmp.Diff(want, got); diff != "" || err != nil {
			t.Errorf("Match(%q) unmatched (-want +got):\n%s err=%v", pattern, diff, err)
		}
	}
}

func TestPatternSyntax(t *testing.T) {
	tests := map[string]string{
		"":        "empty pattern: name a host, a group, all or local",
		"  ":      "empty pattern: name a host, a group, all or local",
		"!":       `"!" needs a host or group after it`,
		"web:&":   `"&" needs a host or group after it`,
		"web,,db": `an empty term: remove the extra ',' or ':'`,
		"web:":    `an empty term: remove the extra ',' or ':'`,
		"!db":     `only exclusions and intersections: nothing to take them from; write "all:!db"`,
		"&web":    `only exclusions and intersections: nothing to take them from; write "all:&web"`,
		"web 01":  `"web 01" is not a host or group name, nor a glob: names are letters, digits, '.', '-' and '_'`,
		"web!db":  `"web!db" is not a host or group name, nor a glob: names are letters, digits, '.', '-' and '_'`,
		"!!db":    `"!db" is not a host or group name, nor a glob: names are letters, digits, '.', '-' and '_'`,
	}
	inv, _ := load(t, hosts)
	for pattern, want := range tests {
		if _, err := inventory.ParsePattern(pattern); err == nil || err.Error() != want {
			t.Errorf("ParsePattern(%q) = %v, want %s", pattern, err, want)
		}
		if _, _, err := inv.Match([]string{pattern}); err == nil || err.Error() != fmt.Sprintf("%q: %s", pattern, want) {
			t.Errorf("Match(%q) = %v, want the pattern and %s", pattern, err, want)
		}
	}
}

func TestHostsAndVarPrecedence(t *testing.T) {
	inv, file := load(t, hosts)
	h, _ := inv.Host("web02")
	if h.Address != "web02" || h.User != "deploy" || h.Port != 2222 || h.Key != filepath.Join(filepath.Dir(file), "keys/id") {
		t.Errorf("web02 = %+v", h)
	}
	if got := inv.GroupsOf("web02"); !cmp.Equal(got, []string{"canary", "prod", "web"}) {
		t.Errorf("GroupsOf(web02) = %v", got)
	}
	// As in Ansible: all, then groups by depth (parents before children),
	// then by name, then the host.
	var tier []any
	for _, l := range inv.VarLayers("web02") {
		if v, ok := l["tier"]; ok {
			tier = append(tier, v.Value)
		}
	}
	if !cmp.Equal(tier, []any{"any", "canary", "prod", "web"}) {
		t.Errorf("tier layers for web02 = %v", tier)
	}
}

func TestStaticErrors(t *testing.T) {
	tests := map[string]string{
		"hosts:\n  a: {adress: x}\n":                            `hosts.yaml:2:7: unknown key "adress"; did you mean "address"?`,
		"hosts:\n  a:\ngroups:\n  g: {hosts: [b]}\n":            `hosts.yaml:4:15: group "g" lists host "b", which is not defined; did you mean "a"?`,
		"groups:\n  a: {children: [c]}\n":                       `hosts.yaml:2:18: group "a" lists child group "c", which is not defined`,
		"groups:\n  a: {children: [b]}\n  b: {children: [a]}\n": `hosts.yaml:3:18: group cycle: a -> b -> a`,
		"hosts:\n  a:\ngroups:\n  a: {}\n":                      `hosts.yaml:4:3: "a" is both a host (hosts.yaml:2:3) and a group: rename one`,
		"plugin: nope\n":                                        `unknown inventory plugin "nope"`,
		"hosts:\n  a: {connection: telnet}\n":                   "connection must be ssh or local",
		"hosts:\n  a: {port: 70000}\n":                          `hosts.yaml:2:13: host "a": port must be between 1 and 65535, got 70000`,
		"defaults: {port: -1}\nhosts:\n  a:\n":                  `hosts.yaml:1:18: defaults: port must be between 1 and 65535, got -1`,
		"hosts:\n  \"web 01\":\n":                               `hosts.yaml:2:3: host name "web 01": use letters, digits, '.', '-' and '_'`,
		"hosts:\n  a:\ngroups:\n  \"a:b\": {hosts: [a]}\n":      `hosts.yaml:4:3: group name "a:b": use letters, digits, '.', '-' and '_'`,
		"plugin: equinix-metal\nport: 0\n":                      `hosts.yaml:2:7: port must be between 1 and 65535, got 0`,
		"hosts:\n  all:\n":                                      `hosts.yaml:2:3: host name "all" means every host: pick another name`,
	}
	for _, bad := range []string{"db*", "a,b", "!a", "&a", "a?", "[a]", "{{ .x }}", ""} {
		tests["hosts:\n  \""+bad+"\":\n"] = fmt.Sprintf(`hosts.yaml:2:3: host name %q`, bad)
	}
	for content, want := range tests {
		p := filepath.Join(t.TempDir(), "hosts.yaml")
		os.WriteFile(p, []byte(content), 0o644)
		_, err := inventory.Open(p)
		if err == nil || !strings.Contains(strings.ReplaceAll(err.Error(), filepath.Dir(p)+"/", ""), want) {
			t.Errorf("%q: err = %v, want %q", content, err, want)
		}
	}
}

// TestHostDefinedInTwoFiles: inventories given together are merged, and a
// host both define is ambiguous: which address, which variables?
func TestHostDefinedInTwoFiles(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	os.WriteFile(a, []byte("hosts:\n  web01: {address: 10.0.0.1}\n"), 0o644)
	os.WriteFile(b, []byte("hosts:\n  db01:\n  web01: {address: 10.0.0.2}\n"), 0o644)
	var sources inventory.Sources
	for _, f := range []string{a, b} {
		p, err := inventory.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sources = append(sources, p)
	}
	_, err := sources.Load(context.Background())
	want := b + `:3:3: host "web01" is defined twice: also at ` + a + ":2:3"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
}
