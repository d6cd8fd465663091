package inventory_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/inventory"
	"gopkg.in/yaml.v3"
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
			checkErrors(t, err, data)
		}
	})
}

// checkErrors asserts that every error names its file, and that no long
// run of data is echoed.
func checkErrors(t *testing.T, err error, data []byte) {
	t.Helper()
	var list *decode.List
	errs := []error{err}
	if errors.As(err, &list) {
		errs = list.Errors()
	}
	for _, e := range errs {
		var pe *decode.Error
		if !errors.As(e, &pe) || pe.Pos.File == "" {
			t.Errorf("error without a position: %v", e)
		}
	}
	msg := err.Error()
	// Quote shows at most 40 characters of a value, and the words around
	// it may match the key before it: no 64 in a row of a line of the
	// file may appear.
	const run = 64
	shown := map[string]bool{}
	for i := 0; i+run <= len(msg); i++ {
		shown[msg[i:i+run]] = true
	}
	for _, line := range strings.Split(string(data), "\n") {
		for i := 0; i+run <= len(line); i++ {
			if shown[line[i:i+run]] {
				t.Errorf("error echoes %q from the file", line[i:i+run])
				break
			}
		}
	}
	for _, s := range secrets(data) {
		if strings.Contains(msg, s) {
			t.Errorf("error shows the secret %q", s)
		}
	}
}

// secrets lists the values tagged !secret in data that are long enough
// to tell apart and written nowhere else in it.
func secrets(data []byte) []string {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && n.Tag == "!secret" && len(n.Value) >= 8 && bytes.Count(data, []byte(n.Value)) == 1 {
			out = append(out, n.Value)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(&doc)
	return out
}
