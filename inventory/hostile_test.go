package inventory_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/decode/decodetest"
	"github.com/runbookdev/runbook/inventory"
)

// mergeBomb is an inventory of depth+1 hosts, each merging the one before
// ten times: 10^depth walks if merges are walked wherever they appear.
func mergeBomb(depth int) string {
	var b strings.Builder
	b.WriteString("hosts:\n  h0: &h0 {port: 2222}\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "  h%d: &h%d {<<: [%s]}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*h%d, ", i-1), 10), ", "))
	}
	return b.String()
}

func TestMergeBombInventory(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts.yaml")
	os.WriteFile(p, []byte(mergeBomb(9)), 0o644)
	var inv *inventory.Inventory
	var err error
	decodetest.Within(t, 30*time.Second, func() {
		var prov inventory.Provider
		if prov, err = inventory.Open(p); err == nil {
			// Loaded again at every reload during a run.
			inv, err = inventory.Sources{prov}.Load(context.Background())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if h, ok := inv.Host("h9"); !ok || h.Port != 2222 {
		t.Errorf("h9 = %+v", h)
	}
}

func TestStaticRefuses(t *testing.T) {
	var laughs strings.Builder
	laughs.WriteString("vars:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&laughs, "  l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	tests := map[string]string{
		laughs.String():                     "hosts.yaml:6:47: *l3 and the aliases before it expand to more than 100000 values",
		"hosts:\n  a:\n---\nhosts:\n  b:\n": "hosts.yaml:3:1: a second YAML document starts here",
		"hosts:\n  a: {user: !vault x}\n":   `hosts.yaml:2:13: unknown YAML tag "!vault"`,
		"plugin: static\n---\nplugin: x\n":  "hosts.yaml:2:1: a second YAML document starts here",
	}
	for content, want := range tests {
		p := filepath.Join(t.TempDir(), "hosts.yaml")
		os.WriteFile(p, []byte(content), 0o644)
		var err error
		decodetest.Within(t, 30*time.Second, func() { _, err = inventory.Open(p) })
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", content, err, want)
		}
	}
}

// The file is read again at every reload: what changed since Open is
// checked the same way.
func TestStaticReloadRefusesSecondDocument(t *testing.T) {
	p := filepath.Join(t.TempDir(), "hosts.yaml")
	os.WriteFile(p, []byte("hosts:\n  a:\n"), 0o644)
	prov, err := inventory.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, []byte("hosts:\n  a:\n---\nhosts:\n  b:\n"), 0o644)
	_, err = prov.Load(context.Background())
	if want := "hosts.yaml:3:1: a second YAML document starts here"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("reload: %v, want %q", err, want)
	}
}

func TestPluginNamed(t *testing.T) {
	tests := map[string]string{
		"plugin: nope\n":                        `hosts.yaml:1:9: unknown inventory plugin "nope" (known: equinix-metal, static)`,
		"plugin: [static]\n":                    `hosts.yaml:1:9: plugin: want the name of an inventory plugin, got a list`,
		"<<: {plugin: equinix-metal}\nhosts:\n": `hosts.yaml:1:14: plugin "equinix-metal" comes through a merge key (<<), which chooses no plugin`,
	}
	for content, want := range tests {
		p := filepath.Join(t.TempDir(), "hosts.yaml")
		os.WriteFile(p, []byte(content), 0o644)
		if _, err := inventory.Open(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want %q", content, err, want)
		}
	}
	for _, content := range []string{"plugin:\nhosts: {a: }\n", "plugin: static\nhosts: {a: }\n"} {
		p := filepath.Join(t.TempDir(), "hosts.yaml")
		os.WriteFile(p, []byte(content), 0o644)
		if _, err := inventory.Open(p); err != nil {
			t.Errorf("%q: %v", content, err)
		}
	}
}

// Merge keys work in the maps of hosts, groups and vars as anywhere else.
func TestMergeKeysInInventory(t *testing.T) {
	inv, _ := load(t, `
hosts:
  <<: {b: {port: 2200}}
  a: {vars: {<<: {k: v}}}
groups:
  <<: {g: {hosts: [a]}}
`[1:])
	if _, ok := inv.Host("b"); !ok {
		t.Errorf("host b, merged into hosts, is missing")
	}
	if got := inv.VarLayers("a"); len(got) < 2 || got[len(got)-2]["k"].Value != "v" { // the host's own, under host_vars/
		t.Errorf("host a's merged vars: %+v", got)
	}
	if got := inv.GroupsOf("a"); len(got) != 1 || got[0] != "g" {
		t.Errorf("GroupsOf(a) = %v", got)
	}
}

// Names are values from the file too: errors quote the start of their
// first line only.
func TestLongNamesQuotedShort(t *testing.T) {
	const body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
	content := "hosts:\n  \"web\\n" + body + "\": {port: 70000}\ngroups:\n  g: {hosts: [\"db\\n" + body + "\"]}\n  \"g2\\n" + body + "\": {}\n"
	p := filepath.Join(t.TempDir(), "hosts.yaml")
	os.WriteFile(p, []byte(content), 0o644)
	_, err := inventory.Open(p)
	if err == nil {
		t.Fatal("opened")
	}
	if strings.Contains(err.Error(), body[:20]) {
		t.Errorf("error quotes a long name whole:\n%v", err)
	}
}
