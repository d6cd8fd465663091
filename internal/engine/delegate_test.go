package engine_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/engine"
)

func TestRunOnceGivesItsResultToTheBatch(t *testing.T) {
	site := `
steps:
  - {name: once, hosts: all, task: t_record, run_once: true, serial: 2, with: {label: once, change: true, value: "from-{{ .host.name }}"}, register: r, notify: h}
  - {name: use, hosts: all, task: t_record, with: {label: "{{ .r.value }}-{{ .r.changed }}"}}
handlers:
  - {name: h, task: t_record, with: {label: handler}}
`
	sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(3, "")})
	if err != nil {
		t.Fatal(err)
	}
	// Batches [h1 h2] [h3]: the first host of each runs the step.
	want := map[string][]string{
		"h1": {"once", "from-h1-true", "handler"},
		"h2": {"from-h1-true", "handler"},
		"h3": {"once", "from-h3-true", "handler"},
	}
	for h, w := range want {
		if diff := cmp.Diff(w, starts(h)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", h, diff)
		}
	}
	if ev := c.find("once", "h2"); ev.Status != engine.Changed || ev.RunOnce != "h1" {
		t.Errorf("h2 is given h1's result: %+v", ev)
	}
	if ev := c.find("once", "h1"); ev.RunOnce != "" {
		t.Errorf("h1 ran it itself: %+v", ev)
	}
	if got := sum.Hosts["h2"].Changed; got != 1 {
		t.Errorf("h2 changed = %d, want 1: the result is its too", got)
	}
}

func TestRunOnceFailureFailsTheBatch(t *testing.T) {
	site := `
steps:
  - {name: once, hosts: all, task: t_record, run_once: true, with: {label: once, fail_on: [h1]}}
  - {name: next, hosts: all, task: t_record, with: {label: next}}
`
	sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(2, "")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"once h1 failed", "once h2 failed"}, sorted(c.results())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !sum.Failed() || sum.Hosts["h2"].Failed != 1 {
		t.Errorf("recap %+v", sum.Hosts["h2"])
	}
}

// What a host registered is in .hostvars for the others once its step has
// run there.
func TestHostvarsHoldRegisteredValues(t *testing.T) {
	site := `
steps:
  - {name: reg, hosts: h1, task: t_record, with: {label: reg, value: "tok-1"}, register: tok}
  - {name: read, hosts: h2, task: t_record, with: {label: "{{ (index .hostvars \"h1\").tok.value }} {{ .hostvars.h1.tok.status }}"}}
  - {name: facts, hosts: h1, task: t_record, with: {label: "{{ .facts.kernel }}"}}
  - {name: theirs, hosts: h2, task: t_record, with: {label: "{{ eq .hostvars.h1.facts.kernel .facts.kernel }}"}}
`
	_, _, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(2, "")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"tok-1 ok", "true"}, starts("h2")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestDelegateTo(t *testing.T) {
	site := `
steps:
  - {name: d, hosts: h1, task: t_record, delegate_to: h2, with: {label: "d-{{ .host.name }}"}}
  - {name: each, hosts: h1, task: t_record, loop: [h2, h3], delegate_to: "{{ .item }}", with: {label: "e-{{ .item }}"}}
  - {name: bad, hosts: h1, task: t_record, delegate_to: "{{ .host.name }}x", with: {label: bad}}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(3, "")})
	if err != nil {
		t.Fatal(err)
	}
	// The module acts for h1, with h1's variables.
	if diff := cmp.Diff([]string{"d-h1", "e-h2", "e-h3"}, starts("h1")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if ev := c.find("d", "h1"); ev.DelegateTo != "h2" || ev.Status != engine.OK {
		t.Errorf("d: %+v", ev)
	}
	var via []string
	for _, ev := range c.events {
		if ev.Type == engine.ItemResult && ev.Step == "each" {
			via = append(via, ev.Item+"->"+ev.DelegateTo)
		}
	}
	if diff := cmp.Diff([]string{"h2->h2", "h3->h3"}, via); diff != "" {
		t.Errorf("each item delegates on its own (-want +got):\n%s", diff)
	}
	if ev := c.find("bad", "h1"); ev.Status != engine.Failed || ev.Message == "" {
		t.Errorf("bad: %+v", ev)
	}
}
