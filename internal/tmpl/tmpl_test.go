package tmpl_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
	"gopkg.in/yaml.v3"
)

var at = decode.Pos{File: "site.yaml", Line: 3, Col: 7}

func TestRender(t *testing.T) {
	data := map[string]any{"name": "web01", "ports": []any{80, 443}, "empty": "", "n": 3}
	tests := []struct {
		in, want, err string
	}{
		{in: "plain text", want: "plain text"},
		{in: "{{ .name }}", want: "web01"},
		{in: `{{ join "," .ports }}`, want: "80,443"},
		{in: `{{ default "x" .empty }}`, want: "x"},
		{in: `{{ quote "it's" }}`, want: `'it'\''s'`},
		{in: `{{ toJSON .ports }}`, want: "[80,443]"},
		{in: "{{ .missing }}", err: `site.yaml:3:7: undefined variable "missing": define it in the runbook's vars, the inventory or with -e missing=...`},
		{in: "{{ .name", err: "site.yaml:3:7: template syntax: unclosed action"},
		{in: "{{ index .ports 5 }}", err: "site.yaml:3:7: template: at <index .ports 5>: error calling index: index out of range: 5"},
	}
	for _, tt := range tests {
		got, err := tmpl.Render(at, tt.in, data)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Render(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestCond(t *testing.T) {
	data := map[string]any{"env": "prod", "n": 3}
	for expr, want := range map[string]bool{
		`eq .env "prod"`:          true,
		`{{ eq .env "dev" }}`:     false,
		`and (gt .n 1) (lt .n 5)`: true,
	} {
		got, err := tmpl.Cond(at, expr, data)
		if err != nil || got != want {
			t.Errorf("Cond(%q) = %v, %v", expr, got, err)
		}
	}
	if _, err := tmpl.Cond(at, ".env", data); err == nil || !strings.Contains(err.Error(), `gave "prod", want true or false`) {
		t.Errorf("non-boolean condition: %v", err)
	}
}

func TestResolveFollowsReferences(t *testing.T) {
	vars := map[string]tmpl.Var{
		"a":    {Value: "{{ .b }}-a"},
		"b":    {Value: "{{ .c }}-b"},
		"c":    {Value: "c"},
		"list": {Value: []any{"{{ .a }}", 1}},
		"lit":  {Value: "no templates"},
	}
	got, err := tmpl.Resolve(vars, map[string]any{"host": map[string]any{"name": "h"}})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": "c-b-a", "b": "c-b", "c": "c", "list": []any{"c-b-a", 1}, "lit": "no templates", "host": map[string]any{"name": "h"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestResolveCycle(t *testing.T) {
	vars := map[string]tmpl.Var{
		"a": {Value: "{{ .b }}", Pos: decode.Pos{File: "f.yaml", Line: 1, Col: 4}},
		"b": {Value: "{{ .a }}", Pos: decode.Pos{File: "f.yaml", Line: 2, Col: 4}},
	}
	_, err := tmpl.Resolve(vars, nil)
	if err == nil || !strings.Contains(err.Error(), "refers to itself: a -> b -> a") {
		t.Errorf("err = %v", err)
	}
}

func TestRenderNodeRetypesPlainScalars(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("port: \"{{ .port }}\"\nname: '{{ .name }}'\nsecret: !secret \"{{ .name }}\"\n"), &doc); err != nil {
		t.Fatal(err)
	}
	out, err := tmpl.RenderNode("f.yaml", doc.Content[0], map[string]any{"port": 8181, "name": "007"})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Port   int
		Name   string
		Secret string
	}
	if err := decode.Node("f.yaml", out, &got, decode.Options{}); err != nil {
		t.Fatal(err)
	}
	if got.Port != 8181 || got.Name != "007" || got.Secret != "007" {
		t.Errorf("got %+v", got)
	}
	if out.Content[5].Tag != "!secret" {
		t.Errorf("the secret tag was lost: %q", out.Content[5].Tag)
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"abc": "abc", "": "''", "a b": "'a b'", "$(rm)": "'$(rm)'", "/etc/x.conf": "/etc/x.conf"} {
		if got := tmpl.ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRenderedListsFillListParameters(t *testing.T) {
	var doc yaml.Node
	yaml.Unmarshal([]byte("members: \"{{ toJSON .names }}\"\ncontent: \"{{ toJSON .names }}\"\n"), &doc)
	out, err := tmpl.RenderNode("f.yaml", doc.Content[0], map[string]any{"names": []any{"a", "b"}})
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Members []string
		Content string
	}
	if err := decode.Node("f.yaml", out, &got, decode.Options{}); err != nil {
		t.Fatal(err)
	}
	if len(got.Members) != 2 || got.Members[1] != "b" || got.Content != `["a","b"]` {
		t.Errorf("got %+v", got)
	}
}

// A variable computed by a template as true or false is a boolean, as a
// rendered parameter is: `{{ if .v }}` and `and .v .w` must not take the
// text "false" for true. Other text stays text (a mode "0750" is not a
// number).
func TestResolvedConditionsAreBooleans(t *testing.T) {
	vars := map[string]tmpl.Var{
		"off":  {Value: "{{ eq 1 2 }}"},
		"on":   {Value: "{{ eq 1 1 }}"},
		"used": {Value: "{{ if .off }}taken{{ else }}not taken{{ end }}-{{ and .off .on }}"},
		"mode": {Value: "{{ print \"0750\" }}"},
		"word": {Value: "false"}, // no template: as written
	}
	got, err := tmpl.Resolve(vars, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"off": false, "on": true, "used": "not taken-false", "mode": "0750", "word": "false"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
