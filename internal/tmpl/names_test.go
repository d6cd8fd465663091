package tmpl_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/tmpl"
)

func TestNames(t *testing.T) {
	tests := map[string][]string{
		"plain":                        nil,
		"{{ .a }}-{{ .b.c }}-{{ .a }}": {"a", "b"},
		`{{ if eq .env "prod" }}{{ .x }}{{ else }}{{ .y }}{{ end }}`: {"env", "x", "y"},
		// Inside range and with, dot is the element: only $ reads the data.
		"{{ range .items }}{{ .name }}{{ $.sep }}{{ end }}":           {"items", "sep"},
		"{{ with .db }}{{ .port }}{{ else }}{{ .fallback }}{{ end }}": {"db", "fallback"},
		"{{ $x := .a }}{{ $x.b }}{{ (.c).d }}":                        {"a", "c"},
		"{{ index .hostvars \"db01\" | toJSON }}":                     {"hostvars"},
		"{{ .broken ": nil,
	}
	for in, want := range tests {
		if diff := cmp.Diff(want, tmpl.Names(in)); diff != "" {
			t.Errorf("Names(%q) (-want +got):\n%s", in, diff)
		}
	}
}

// TestCheckCondRefusesNonBooleans: conditions that can never come out as
// true or false were found only on each host at run time.
func TestCheckCondRefusesNonBooleans(t *testing.T) {
	bad := map[string]string{
		"1":                 "is the number 1",
		`"yes"`:             `is the string "yes"`,
		"{{ .a }} == prod":  `renders the text "== prod" beside its actions`,
		"{{ .a }}{{ .b }}":  "renders one value after another",
		"len .items":        "gives a number (len)",
		"{{ $x := .a }}":    "only sets a variable",
		"nil":               "is nil",
		"{{/* nothing */}}": "renders nothing",
		`split "," .list`:   "gives a list",
		`{{ "maybe" }}`:     `is the string "maybe"`,
	}
	for expr, want := range bad {
		err := tmpl.CheckCond(at, expr)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "site.yaml:3:7: ") {
			t.Errorf("CheckCond(%q) = %v, want %q", expr, err, want)
		}
	}
	for _, good := range []string{"true", "false", `eq .env "prod"`, ".ok", "{{ .ok }}\n", `"true"`, "not .x",
		"{{ if .a }}true{{ else }}false{{ end }}", `and .a .b`, `contains "x" .s`, "index .m \"k\""} {
		if err := tmpl.CheckCond(at, good); err != nil {
			t.Errorf("CheckCond(%q) = %v", good, err)
		}
	}
}

func TestFileRefs(t *testing.T) {
	text := "a = {{ .a }}\n{{ range .list }}{{ .x }}{{ end }}\n  {{ $.b }}{{ if .c }}{{ .maybe }}{{ end }}"
	want := []tmpl.Ref{{Name: "a", Line: 1, Col: 8}, {Name: "list", Line: 2, Col: 10}, {Name: "b", Line: 3, Col: 7}, {Name: "c", Line: 3, Col: 18}}
	if diff := cmp.Diff(want, tmpl.FileRefs(text)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestReads: names read only in some renderings (an if's body, past the
// first operand of and/or) are not certain to be needed.
func TestReads(t *testing.T) {
	tests := map[string][]string{
		"{{ if .tls }}{{ .cert }}{{ else }}{{ .plain }}{{ end }}": {"tls"},
		"{{ and .a .b }}-{{ or .c .d }}":                          {"a", "c"},
		"{{ default 80 .port }}":                                  {"port"},
		"{{ range .xs }}{{ $.y }}{{ end }}":                       {"xs"},
	}
	for in, want := range tests {
		if diff := cmp.Diff(want, tmpl.Reads(in)); diff != "" {
			t.Errorf("Reads(%q) (-want +got):\n%s", in, diff)
		}
	}
}

func TestCondVar(t *testing.T) {
	for expr, want := range map[string]string{".debug": "debug", "{{ .debug }}": "debug", " .on ": "on", ".a.b": "", "not .a": "", "eq .a 1": ""} {
		got, ok := tmpl.CondVar(expr)
		if got != want || ok != (want != "") {
			t.Errorf("CondVar(%q) = %q, %v", expr, got, ok)
		}
	}
}

// TestResolveCyclesAreRealReferences: a name read inside range is a field
// of the element, not a reference back to the variable.
func TestResolveCyclesAreRealReferences(t *testing.T) {
	vars := map[string]tmpl.Var{
		"name":  {Value: "{{ range .users }}{{ .name }} {{ end }}"},
		"users": {Value: []any{map[string]any{"name": "ann"}}},
	}
	out, err := tmpl.Resolve(vars, nil)
	if err != nil || out["name"] != "ann " {
		t.Errorf("Resolve = %v, %v", out["name"], err)
	}
}
