package engine_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
)

// In check mode a step is unknown (would change) only when its answer
// depends on what earlier steps would do: the module says so, or a
// template reads what a step registered without running. Anything else is
// a failure, as it would be in a real run.
func TestCheckModeUnknownOnlyWhenItDependsOnEarlierSteps(t *testing.T) {
	site := `
steps:
  - {name: make, hosts: all, task: t_record, with: {label: make, change: true, value: v}, register: made}
  - {name: needs, hosts: all, task: t_needs}
  - {name: broken, hosts: h1, task: t_needs, with: {broken: true}}
  - {name: reads made, hosts: h2, task: t_record, with: {label: "{{ .made.stdout }}"}}
  - {name: reads a typo, hosts: h3, task: t_record, with: {label: "{{ .made.value }} {{ .typo.stdout }}"}}
`
	sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(3, "vars: {typo: {}}\n"), opts: engine.Options{Check: true}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		step, host string
		status     engine.Status
		unknown    bool
		text       string
	}{
		{"needs", "h1", engine.Changed, true, "unknown until earlier steps are applied: /opt/app does not exist"},
		{"broken", "h1", engine.Failed, false, "template source: open app.tmp"},
		{"reads made", "h2", engine.Changed, true, ".made come from steps that did not run in check mode"},
		{"reads a typo", "h3", engine.Failed, false, `undefined variable "stdout"`},
	} {
		ev := c.find(want.step, want.host)
		text := ev.Message + strings.Join(ev.Changes, "")
		if ev.Status != want.status || ev.Unknown != want.unknown || !strings.Contains(text, want.text) {
			t.Errorf("%s on %s: %s unknown=%v %q, want %s unknown=%v %q", want.step, want.host, ev.Status, ev.Unknown, text, want.status, want.unknown, want.text)
		}
	}
	if !sum.Failed() {
		t.Error("the run should fail")
	}

	// Without an earlier change, what the module cannot find is missing.
	_, c, _ = run(t, fixture{files: map[string]string{"site.yaml": "steps:\n  - {name: needs, hosts: all, task: t_needs}\n"}, inv: localInventory(1, ""), opts: engine.Options{Check: true}})
	if ev := c.find("needs", "h1"); ev.Status != engine.Failed || ev.Unknown {
		t.Errorf("nothing pending: %s", fmt.Sprint(ev))
	}
}

// A template that reads another host's value through .hostvars, or in a
// way that does not say which variable (inside with), is unknown in check
// mode where such a value lacks what a real run gives.
func TestCheckModeUnknownAcrossHostsAndInsideWith(t *testing.T) {
	site := `
steps:
  - {name: make, hosts: h1, task: t_record, with: {label: make, change: true}, register: made}
  - {name: chain, hosts: h2, task: t_record, with: {label: "{{ .hostvars.h1.made.stdout }}"}}
  - {name: index, hosts: h2, task: t_record, with: {label: "{{ (index .hostvars \"h1\").made.stdout }}"}}
  - {name: with, hosts: h1, task: t_record, with: {label: "{{ with .made }}{{ .stdout }}{{ end }}"}}
  - {name: typo, hosts: h2, task: t_record, with: {label: "{{ .hostvars.h1.host.nmae }}"}}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(2, ""), opts: engine.Options{Check: true}})
	if err != nil {
		t.Fatal(err)
	}
	for step, want := range map[string]string{"chain": ".hostvars.h1.made come from", "index": ".hostvars.h1.made come from", "with": ".made come from"} {
		host := "h2"
		if step == "with" {
			host = "h1"
		}
		if ev := c.find(step, host); ev.Status != engine.Changed || !ev.Unknown || !strings.Contains(strings.Join(ev.Changes, ""), want) {
			t.Errorf("%s: %s %q, want unknown %q", step, ev.Status, ev.Changes, want)
		}
	}
	if ev := c.find("typo", "h2"); ev.Status != engine.Failed {
		t.Errorf("typo: %s %q %q, want failed", ev.Status, ev.Changes, ev.Message)
	}
}
