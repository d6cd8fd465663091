package cli_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// `runbook inventory` shows each host's variables as a step on the host
// sees them: rendered with the same host, groups and hostvars.
func TestInventoryShowsWhatStepsSee(t *testing.T) {
	inv := write(t, "hosts.yaml", `vars:
  peer: "{{ .hostvars.h2.address }}:{{ .hostvars.h2.port }}"
  where: "{{ .host.name }} {{ .host.groups }} {{ len .groups.all }}"
  plain: 1
hosts:
  h1: {connection: local, address: 10.0.0.1}
  h2: {connection: local, address: 10.0.0.2, port: 2222}
groups:
  g: {hosts: [h1]}
`)
	code, out, errOut := runCLI("inventory", "-i", inv, "--output", "json")
	if code != 0 {
		t.Fatalf("inventory: %d %s", code, errOut)
	}
	var view struct {
		Hosts map[string]struct{ Vars map[string]any }
	}
	if err := json.Unmarshal([]byte(out), &view); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	dir := t.TempDir()
	rb := write(t, "site.yaml", fmt.Sprintf(`steps:
  - name: show
    hosts: all
    task: file
    with: {path: "%s/{{ .host.name }}", content: '{"peer": {{ toJSON .peer }}, "where": {{ toJSON .where }}, "plain": {{ toJSON .plain }}}'}
`, dir))
	if code, out, errOut := runCLI("apply", "-i", inv, rb); code != 0 {
		t.Fatalf("apply: %d %s %s", code, out, errOut)
	}
	for _, h := range []string{"h1", "h2"} {
		data, err := os.ReadFile(filepath.Join(dir, h))
		if err != nil {
			t.Fatal(err)
		}
		var seen map[string]any
		if err := json.Unmarshal(data, &seen); err != nil {
			t.Fatalf("%s: %v: %s", h, err, data)
		}
		if diff := cmp.Diff(seen, view.Hosts[h].Vars); diff != "" {
			t.Errorf("%s: what a step sees (-) and what runbook inventory shows (+) differ:\n%s", h, diff)
		}
	}
}
