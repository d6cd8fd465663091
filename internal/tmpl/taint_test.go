package tmpl_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
)

// TestWhatTemplatesMakeOfASecretIsSecret: every function that makes a
// string from a secret gives a string the set hides.
func TestWhatTemplatesMakeOfASecretIsSecret(t *testing.T) {
	var set secret.Set
	taint := tmpl.NewTaint(&set)
	base := map[string]any{"name": "web01", "hosts": []any{"a", "b"}, "hostvars": map[string]any{
		"a": map[string]any{"ip": "10.0.0.1", "token": "hostvars-secret"},
		"b": map[string]any{"ip": "10.0.0.2", "token": "hostvars-secret"},
	}}
	set.Add("hostvars-secret")
	taint.Track(base)
	vars, err := tmpl.Resolve(map[string]tmpl.Var{
		"pw":    {Value: "Open <Sesame's> key&", Secret: true},
		"creds": {Value: map[string]any{"user": "a", "pass": "mapping-pass"}, Secret: true},
		"list":  {Value: []any{"first-item", "{{ .pw }}"}, Secret: true},
		"d":     {Value: "{{ .pw | upper }}"}, // not secret, but derived from one
	}, base)
	if err != nil {
		t.Fatal(err)
	}
	tr := taint.Track(vars)
	for _, in := range []string{
		"{{ upper .pw }}", "{{ lower .pw }}", "{{ quote .pw }}", "{{ toJSON .pw }}", "{{ .pw | trim }}",
		`{{ replace "e" "3" .pw }}`, `{{ printf "%x" .pw }}`, `{{ printf "%q" .pw }}`, "{{ html .pw }}", "{{ js .pw }}",
		"{{ urlquery .pw }}", "{{ print .pw 1 }}", `{{ join "," .list }}`, `{{ index (split " " .pw) 1 | upper }}`,
		"{{ .d }}", "{{ toJSON .creds }}", "{{ .creds.pass | upper }}", `{{ .pw | printf "%s!" | upper | quote }}`,
	} {
		out, err := tmpl.Render(at, in, vars)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := set.Redact(out); got != secret.Mask {
			t.Errorf("%s gave %q, shown as %q", in, out, got)
		}
	}
	if !tr.Held() {
		t.Error("the tracker did not see a secret rendered")
	}

	tr = taint.Track(vars)
	out, err := tmpl.RenderFile("f.tmpl", `{{ upper .name }} {{ .creds.user }} {{ with .name }}{{ . }}{{ end }}`+
		` {{ range $h := .hosts }}{{ (index $.hostvars $h).ip }},{{ index $.hostvars $h "ip" }} {{ end }}{{ (index .hostvars "b").ip }}`+
		` {{ if .pw }}https{{ end }} {{ if and (ne .pw "") (not (eq .creds.pass "x")) }}checked{{ end }}`, vars)
	if err != nil || out != "WEB01 a web01 10.0.0.1,10.0.0.1 10.0.0.2,10.0.0.2 10.0.0.2 https checked" || set.Redact(out) != out || tr.Held() {
		t.Errorf("what reads no secret: %q (shown %q), %v, held %v", out, set.Redact(out), err, tr.Held())
	}
	if _, err := tmpl.RenderFile("f.tmpl", "{{ .pw | upper }}", vars); err != nil || !tr.Held() {
		t.Errorf("a template file holding a secret is not seen: %v", err)
	}
}

// TestWhatReadsASecretIsSecretWhole: text rendered by a template that
// reads a secret is secret as a whole, even when it holds none of the
// secret's text: a slice of it, its letters one by one, a condition on it.
func TestWhatReadsASecretIsSecretWhole(t *testing.T) {
	var set secret.Set
	taint := tmpl.NewTaint(&set)
	base := map[string]any{"name": "web01"}
	taint.Track(base)
	vars, err := tmpl.Resolve(map[string]tmpl.Var{
		"pw":     {Value: "Open-Sesame-key", Secret: true},
		"creds":  {Value: map[string]any{"user": "a", "pass": "mapping-pass"}, Secret: true},
		"head":   {Value: "{{ slice .pw 0 6 }}"}, // not secret, but read from one
		"keys":   {Value: []any{"pass"}},
		"nested": {Value: map[string]any{"a": map[string]any{"pass": "{{ .pw }}"}}},
	}, base)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range []string{
		"{{ slice .pw 0 6 }}", "{{ slice .pw 5 }}!", `{{ range split "" .pw }}{{ . }}-{{ end }}`,
		"length {{ len .pw }}", "{{ if $p := .pw }}{{ slice $p 0 5 }}{{ end }}", `{{ index .creds "pass" | printf "%.7s" }}`,
		"{{ .head }}", "x{{ .head }}x", "{{ $.pw | len }} chars", `{{ with .creds }}{{ slice .pass 0 7 }}{{ end }}`,
		`{{ range $k, $v := . }}{{ if eq $k "pw" }}{{ slice $v 1 8 }}{{ end }}{{ end }}`,
		`{{ slice (index . "pw") 2 9 }}`, `{{ range $k := .keys }}{{ slice (index $.creds $k) 0 7 }}{{ end }}`,
		`{{ (index .nested "a").pass | len | printf "%d chars" }}`,
	} {
		tr := taint.Track(vars)
		out, err := tmpl.Render(at, in, vars)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := set.Redact(out); got != secret.Mask {
			t.Errorf("%s gave %q, shown as %q", in, out, got)
		}
		if !tr.Held() {
			t.Errorf("%s: the tracker did not see a secret read", in)
		}
	}
	tr := taint.Track(vars)
	if got, err := tmpl.Value(at, "{{ split \"-\" .pw }}", vars); err != nil || set.Redact(fmt.Sprint(got)) == fmt.Sprint(got) || !tr.Held() {
		t.Errorf("a value read from a secret: %v %v, held %v", got, err, tr.Held())
	}
	tr = taint.Track(vars)
	if out, err := tmpl.RenderFile("f.tmpl", "{{ define \"t\" }}{{ slice . 0 4 }}{{ end }}<{{ template \"t\" .pw }}>", vars); err != nil || set.Redact(out) != secret.Mask || !tr.Held() {
		t.Errorf("a template file handing a secret to a template: %q %v, held %v", out, err, tr.Held())
	}
}

// TestAConditionOnASecretPassesNothingOn: a condition that reads a secret
// does not make the step's parameters secret, but what it gives is.
func TestAConditionOnASecretPassesNothingOn(t *testing.T) {
	var set secret.Set
	taint := tmpl.NewTaint(&set)
	base := map[string]any{}
	taint.Track(base)
	vars, err := tmpl.Resolve(map[string]tmpl.Var{"pw": {Value: "Open-Sesame-key", Secret: true}}, base)
	if err != nil {
		t.Fatal(err)
	}
	tr := taint.Track(vars)
	if ok, err := tmpl.Cond(at, `ne .pw ""`, vars); !ok || err != nil || tr.Held() {
		t.Errorf("condition: %v %v, held %v", ok, err, tr.Held())
	}
	_, err = tmpl.Cond(at, "{{ slice .pw 0 6 }}", vars)
	if err == nil || strings.Contains(set.Redact(err.Error()), "Open-S") {
		t.Errorf("a condition's output, shown in its error: %v", set.Redact(fmt.Sprint(err)))
	}
}
