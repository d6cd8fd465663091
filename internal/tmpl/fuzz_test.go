package tmpl_test

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/tmpl"
)

// fuzzData is what templates see: the shapes runbook gives them.
func fuzzData() map[string]any {
	return map[string]any{
		"host":    map[string]any{"name": "web01", "address": "10.0.0.1", "port": 22},
		"groups":  map[string]any{"web": []any{"web01", "web02"}, "all": []any{"web01", "web02", "db01"}},
		"facts":   map[string]any{"os": "linux", "cpus": 4, "ips": []string{"10.0.0.1"}},
		"mesh":    true,
		"count":   3,
		"ratio":   0.5,
		"nothing": nil,
		"token":   "s3cr3t",
		"nested":  map[string]any{"a": map[string]any{"b": []any{1, "two", 3.0}}},
	}
}

// FuzzRender renders any template text, as a value (Render, Cond) and as
// a file (RenderFile): errors must be placed where the template is, and
// text without actions must come out as it went in. Seeds: the templates
// of the repository's runbooks and template files. Run with
//
//	go test -run XXX -fuzz FuzzRender -fuzztime 60s ./internal/tmpl/
func FuzzRender(f *testing.F) {
	quoted := regexp.MustCompile(`"([^"\n]*\{\{[^"\n]*)"|'([^'\n]*\{\{[^'\n]*)'`)
	files, _ := filepath.Glob("../../runbooks/*.yaml")
	tmplFiles, _ := filepath.Glob("../../runbooks/templates/*")
	for _, file := range append(files, tmplFiles...) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		if filepath.Ext(file) != ".yaml" {
			f.Add(string(data))
			continue
		}
		for _, m := range quoted.FindAllStringSubmatch(string(data), -1) {
			f.Add(m[1] + m[2])
		}
	}
	for _, s := range []string{
		"{{ .host.name }}", "{{ .nope }}", "{{ .host.nope }}", "{{ index .groups.web 5 }}",
		"{{ range .groups.all }}{{ range $.groups.all }}{{ . }}{{ end }}{{ end }}",
		"{{ toJSON .nested }}", "{{ join \",\" .facts.ips }}", "{{ quote .token }}", "{{ if eq .count 3 }}x{{ end }}",
		"{{ printf \"%d\" .count }}", "{{ default \"x\" .nothing }}", "{{ template \"t\" }}", "{{ define \"u\" }}x{{ end }}",
		"no actions at all", "{{", "}}", "{{ .host.name", "{{/* comment */}}",
	} {
		f.Add(s)
	}
	at := decode.Pos{File: "site.yaml", Line: 3, Col: 7}
	f.Fuzz(func(t *testing.T, s string) {
		data := fuzzData()
		out, err := tmpl.Render(at, s, data)
		checkAt(t, "Render", err, at)
		if err == nil && !decode.HasTemplate(s) && out != s {
			t.Errorf("Render(%q) = %q: text without actions changed", s, out)
		}
		_, err = tmpl.Cond(at, s, data)
		checkAt(t, "Cond", err, at)
		_, err = tmpl.RenderFile("f.tmpl", s, data)
		var pe *decode.Error
		if err != nil && (!errors.As(err, &pe) || pe.Pos.File != "f.tmpl") {
			t.Errorf("RenderFile: error not placed in f.tmpl: %v", err)
		}
	})
}

func checkAt(t *testing.T, what string, err error, at decode.Pos) {
	t.Helper()
	if err == nil {
		return
	}
	var pe *decode.Error
	if !errors.As(err, &pe) || pe.Pos != at {
		t.Errorf("%s: error not placed at %s: %v", what, at, err)
	}
}
