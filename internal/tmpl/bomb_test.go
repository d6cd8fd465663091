package tmpl_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
	"gopkg.in/yaml.v3"
)

// A step's parameters that merge a mapping merged ten times at each of
// nine levels: copied alias by alias, 10^9 nodes for each host.
func TestRenderNodeMergeBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("levels:\n  - &m0 {path: \"/srv/{{ .name }}\"}\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "  - &m%d {<<: [%s]}\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 10), ", "))
	}
	b.WriteString("with: {<<: *m9, mode: \"0644\"}\n")
	doc, err := decode.Parse("f.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	with := doc.Content[0].Content[3]
	var out *yaml.Node
	done := make(chan struct{})
	go func() {
		defer close(done)
		out, err = tmpl.RenderNode("f.yaml", with, map[string]any{"name": "web"})
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("still rendering after 30s") // a guard; the result is what is asserted
	}
	if err != nil {
		t.Fatal(err)
	}
	// Aliases stay aliases, to one rendered copy of their anchor.
	m9 := out.Content[1]
	if m9.Kind != yaml.AliasNode {
		t.Fatalf("<<: *m9 rendered as kind %v, want an alias", m9.Kind)
	}
	merges := m9.Alias.Content[1].Content
	for _, a := range merges[1:] {
		if a.Kind != yaml.AliasNode || a.Alias != merges[0].Alias {
			t.Fatalf("the ten *m8 of m9 do not share one rendered m8")
		}
	}
	var got struct {
		Path string `yaml:"path"`
		Mode string `yaml:"mode"`
	}
	if err := decode.Node("f.yaml", out, &got, decode.Options{}); err != nil {
		t.Fatal(err)
	}
	if got.Path != "/srv/web" || got.Mode != "0644" {
		t.Errorf("got %+v", got)
	}
}

// A value that invokes itself recursed 100000 levels deep (most of a
// second, for each host) before text/template gave up: values have no
// use for named templates, which belong in template files.
func TestValuesInvokeNoTemplates(t *testing.T) {
	at := decode.Pos{File: "site.yaml", Line: 3, Col: 7}
	for _, s := range []string{
		`{{ template "t" }}`,
		`{{ define "x" }}{{ template "x" }}{{ end }}{{ template "x" }}`,
		`{{ block "b" . }}{{ template "b" . }}{{ end }}`,
		`{{ define "u" }}unused{{ end }}`,
	} {
		_, err := tmpl.Render(at, s, nil)
		want := "site.yaml:3:7: template syntax: {{ template }}, {{ define }} and {{ block }} belong in template files, not in values"
		if err == nil || err.Error() != want {
			t.Errorf("Render(%q): %v, want %q", s, err, want)
		}
		if err := tmpl.CheckCond(at, s); err == nil || err.Error() != want {
			t.Errorf("CheckCond(%q): %v, want %q", s, err, want)
		}
	}
	// Template files may.
	out, err := tmpl.RenderFile("f.tmpl", `{{ define "x" }}[{{ . }}]{{ end }}{{ template "x" .n }}`, map[string]any{"n": 1})
	if err != nil || out != "[1]" {
		t.Errorf("RenderFile: %q, %v", out, err)
	}
}
