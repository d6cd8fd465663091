package engine_test

import (
	"strings"
	"testing"
)

// A !secret parameter reached through an alias is masked like one written
// in place: rendering keeps aliases (so a merge bomb costs nothing), and
// the secrets in the rendered parameters are found through them.
func TestSecretsThroughAliasesAreNeverShown(t *testing.T) {
	// The anchor is in a handler that never runs, so only the alias and
	// the merge bring the secret into the steps that do.
	site := `
handlers:
  - {name: never, task: t_record, with: &w {label: &l !secret "s3cr3t-{{ .host.name }}", change: true}}
steps:
  - {name: aliased, hosts: all, task: t_record, with: {label: *l, change: true}}
  - {name: merged, hosts: all, task: t_record, with: {<<: *w, fail_on: [h1]}}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range rendered(c.events) {
		if strings.Contains(out, "s3cr3t-h1") {
			t.Errorf("secret shown:\n%s", out)
		}
		if strings.Count(out, "********") < 2 {
			t.Errorf("want the label masked for each of the 2 steps in:\n%s", out)
		}
	}
}
