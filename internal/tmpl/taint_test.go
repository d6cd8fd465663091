package tmpl_test

import (
	"testing"

	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
)

// TestWhatTemplatesMakeOfASecretIsSecret: every function that makes a
// string from a secret gives a string the set hides.
func TestWhatTemplatesMakeOfASecretIsSecret(t *testing.T) {
	var set secret.Set
	taint := tmpl.NewTaint(&set)
	base := map[string]any{"name": "web01"}
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
	out, err := tmpl.RenderFile("f.tmpl", `{{ upper .name }} {{ if .pw }}yes{{ end }} {{ len .pw }} {{ .creds.user }}`, vars)
	if err != nil || out != "WEB01 yes 20 a" || set.Redact(out) != out || tr.Held() {
		t.Errorf("what holds no secret: %q (shown %q), %v, held %v", out, set.Redact(out), err, tr.Held())
	}
	if _, err := tmpl.RenderFile("f.tmpl", "{{ .pw | upper }}", vars); err != nil || !tr.Held() {
		t.Errorf("a template file holding a secret is not seen: %v", err)
	}
}
