package tmpl_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
)

// A loop names a variable that holds a list: the template gives the list,
// not its text.
func TestValueGivesALoneActionsValue(t *testing.T) {
	data := map[string]any{
		"users": []any{"alice", "bob"},
		"ports": map[string]any{"http": 80},
		"csv":   "a,b",
		"name":  "web01",
	}
	tests := []struct {
		in   string
		want any
		err  string
	}{
		{in: "{{ .users }}", want: []any{"alice", "bob"}},
		{in: "{{- .users -}}", want: []any{"alice", "bob"}},
		{in: "{{ .ports }}", want: map[string]any{"http": 80}},
		{in: `{{ split "," .csv }}`, want: []string{"a", "b"}},
		{in: `{{ .csv | split "," }}`, want: []string{"a", "b"}},
		{in: "{{ index .users 1 }}", want: "bob"},
		// Text around the action: text, as Render gives.
		{in: "x {{ .users }}", want: "x [alice bob]"},
		{in: "{{ .name }}-{{ .csv }}", want: "web01-a,b"},
		{in: "{{ $x := .users }}{{ $x }}", want: "[alice bob]"},
		{in: "{{ .missing }}", err: `site.yaml:3:7: undefined variable "missing": define it in the runbook's vars, the inventory or with -e missing=...`},
		{in: "{{ index .users 5 }}", err: "site.yaml:3:7: template: at <index .users 5>: error calling index: index out of range: 5"},
	}
	for _, tt := range tests {
		got, err := tmpl.Value(at, tt.in, data)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Value(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Value(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Value(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

// What a function makes of a secret is secret, whether the template gives
// text or a value.
func TestValueKeepsTaint(t *testing.T) {
	var set secret.Set
	set.Add("hunter22")
	data := map[string]any{"pw": "hunter22"}
	tmpl.NewTaint(&set).Track(data)
	got, err := tmpl.Value(at, "{{ upper .pw }}", data)
	if err != nil || got != "HUNTER22" {
		t.Fatalf("Value = %v, %v", got, err)
	}
	if !set.Holds("HUNTER22") {
		t.Error("upper of a secret, given as a value, is not secret")
	}
}
