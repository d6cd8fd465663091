package decode_test

import (
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

type params struct {
	Path    string            `yaml:"path" required:"true"`
	Count   int               `yaml:"count"`
	Wait    time.Duration     `yaml:"wait"`
	Tags    []string          `yaml:"tags"`
	Env     map[string]string `yaml:"env"`
	Enabled *bool             `yaml:"enabled"`
}

func node(t *testing.T, s string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(s), &doc); err != nil {
		t.Fatal(err)
	}
	return &doc
}

func TestStrict(t *testing.T) {
	tests := []struct {
		name, in string
		opts     decode.Options
		errs     []string
	}{
		{name: "ok", in: "path: /x\ncount: 2\nwait: 1m\ntags: a\nenv: {A: b}\nenabled: true"},
		{name: "all problems at once", in: "count: two\nwiat: 5s\ntags: {a: 1}\n", errs: []string{
			`f.yaml:1:8: want a whole number, got "two"`,
			`f.yaml:2:1: unknown key "wiat"; did you mean "wait"?`,
			`f.yaml:3:7: want a list, got a mapping`,
			`f.yaml:1:1: missing required key "path"`,
		}},
		{name: "duration", in: "path: x\nwait: soon", errs: []string{`f.yaml:2:7: want a duration such as 30s or 5m, got "soon"`}},
		{name: "twice", in: "path: x\npath: y", errs: []string{`f.yaml:2:1: key "path" is given twice`}},
		{name: "template accepted when validating", in: "path: x\ncount: \"{{ .n }}\"", opts: decode.Options{Templates: true}},
		{name: "template refused once rendered", in: "path: x\ncount: \"{{ .n }}\"", errs: []string{`want a whole number, got "{{ .n }}"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p params
			err := decode.Node("f.yaml", node(t, tt.in), &p, tt.opts)
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, want := range tt.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error does not contain %q:\n%v", want, err)
				}
			}
		})
	}
}

func TestDurationsAndScalarLists(t *testing.T) {
	var p params
	if err := decode.Node("f.yaml", node(t, "path: x\nwait: 2.5\ntags: solo"), &p, decode.Options{}); err != nil {
		t.Fatal(err)
	}
	if p.Wait != 2500*time.Millisecond || len(p.Tags) != 1 || p.Tags[0] != "solo" {
		t.Errorf("got %+v", p)
	}
}

func TestMergeKeys(t *testing.T) {
	in := "base: &b {path: /a, count: 1, tags: [x]}\nuse: {<<: *b, count: 2}\n"
	var doc struct {
		Base yaml.Node `yaml:"base"`
		Use  params    `yaml:"use"`
	}
	if err := decode.Node("f.yaml", node(t, in), &doc, decode.Options{}); err != nil {
		t.Fatal(err)
	}
	if doc.Use.Path != "/a" || doc.Use.Count != 2 || len(doc.Use.Tags) != 1 {
		t.Errorf("merged: %+v", doc.Use)
	}
}

func TestAnyScalar(t *testing.T) {
	n := node(t, "base: &b {deep: [x, \"{{ .y }}\"]}\nuse: *b\n\"{{ .key }}\": 1\n")
	if !decode.AnyScalar(n, func(s string) bool { return s == "{{ .y }}" }) {
		t.Errorf("AnyScalar did not find the template in a list in a mapping")
	}
	if got := decode.AnyScalar(n, func(s string) bool { return s == "{{ .key }}" }); !got {
		t.Errorf("AnyScalar did not look at a mapping's keys")
	}
	alias := node(t, "base: &b {deep: x}\nuse: *b\n")
	if got := decode.AnyScalar(alias.Content[0].Content[3], func(s string) bool { return s == "x" }); !got {
		t.Errorf("AnyScalar did not follow an alias")
	}
	count := 0
	decode.AnyScalar(alias, func(string) bool { count++; return false })
	if count != 4 { // base, deep, x, use: the anchored mapping once
		t.Errorf("AnyScalar looked at %d scalars, want 4 (the aliased mapping once)", count)
	}
}
