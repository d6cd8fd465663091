package inventory_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/decode/decodetest"
	"github.com/runbookdev/runbook/inventory"
)

// FuzzStatic feeds the inventory reader any file: it must refuse what is
// wrong with errors that name the file (and a line where the problem is
// one value), never echo a long line of it, and finish. Run with
//
//	go test -run XXX -fuzz FuzzStatic -fuzztime 60s ./inventory/
func FuzzStatic(f *testing.F) {
	for _, pattern := range []string{"*.yaml"} {
		files, _ := filepath.Glob(pattern)
		for _, file := range files {
			data, err := os.ReadFile(file)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	var laughs strings.Builder
	laughs.WriteString("vars:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&laughs, "  l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	for _, s := range []string{
		hosts, mergeBomb(9), mergeBomb(30), laughs.String(),
		"hosts:\n  a:\n---\nhosts:\n  b:\n",
		"defaults: {port: 22, user: !vault x}\nhosts:\n  a: {port: .nan}\n",
		"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n",
		"vars: {x: &x {a: 1}}\nhosts:\n  a: {vars: {<<: *x, b: !secret 2}}\ngroups:\n  g: {hosts: [a], vars: *x}\n",
	} {
		f.Add([]byte(s))
	}
	file := filepath.Join(f.TempDir(), "hosts.yaml") // inputs are tried one at a time
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		prov, err := inventory.Open(file)
		if err == nil && fmt.Sprintf("%T", prov) == "inventory.static" {
			// Other plugins ask an API; the static one reads the file again.
			var inv *inventory.Inventory
			if inv, err = (inventory.Sources{prov}).Load(context.Background()); err == nil {
				for _, h := range inv.Hosts() {
					if h.Name == "" {
						t.Errorf("a host without a name: %+v", h)
					}
				}
			}
		}
		if err != nil {
			decodetest.CheckErrors(t, err, data, false)
		}
	})
}

// FuzzAnsibleINI feeds the reader of Ansible's INI inventories any file,
// seeded with Ansible's documentation examples: errors name the file and
// a line, echo no long line of it, and ranges cannot expand without bound.
//
//	go test -run XXX -fuzz FuzzAnsibleINI -fuzztime 60s ./inventory/
func FuzzAnsibleINI(f *testing.F) {
	files, _ := filepath.Glob("testdata/ansible/*.ini")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"[web]\nw[0:9][a:z][0:99]\n", "w[01:100]\n", "[a:children]\nb\n[b:children]\na\n",
		"h a=\"b c\" d='e' f=\\\"g # x\n", "[g:vars]\nx==1\n[g:vars]\n", "h:22 ansible_port=http\n",
	} {
		f.Add([]byte(s))
	}
	file := filepath.Join(f.TempDir(), "hosts")
	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(data, []byte("[")) && !bytes.HasPrefix(data, []byte(";")) {
			data = append([]byte(";\n"), data...) // read as INI, not YAML
		}
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		prov, err := inventory.Open(file)
		if err == nil {
			var inv *inventory.Inventory
			if inv, err = (inventory.Sources{prov}).Load(context.Background()); err == nil {
				for _, h := range inv.Hosts() {
					if h.Name == "" || h.Address == "" {
						t.Errorf("a host without a name or an address: %+v", h)
					}
				}
			}
		}
		if err != nil {
			decodetest.CheckErrors(t, err, data, true)
		}
	})
}
