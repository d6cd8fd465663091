package engine_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/engine"
)

// A host that fails inside a block runs the rescue steps, with the
// failure as .failure, and the always steps; other hosts skip the rescue
// and run always. The rescued host goes on with the steps after the
// block and counts as rescued, not failed.
func TestBlockRescueAlways(t *testing.T) {
	sum, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
steps:
  - name: guarded
    hosts: all
    block:
      - {name: first, task: t_record, with: {label: first}}
      - {name: second, task: t_record, with: {label: second, fail_on: [h2]}}
      - {name: third, task: t_record, with: {label: third}}
    rescue:
      - {name: rescue, task: t_record, with: {label: "rescue {{ .failure.step }}: {{ .failure.message }}"}}
    always:
      - {name: always, task: t_record, with: {label: always}}
  - {name: after, hosts: all, task: t_record, with: {label: after}}
`},
		inv: localInventory(3, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"first h1 ok", "first h2 ok", "first h3 ok",
		"second h1 ok", "second h2 failed", "second h3 ok",
		"third h1 ok", "third h3 ok",
		"rescue h2 ok",
		"always h1 ok", "always h2 ok", "always h3 ok",
		"after h1 ok", "after h2 ok", "after h3 ok",
	}
	if diff := cmp.Diff(sortedWithinSteps(want), sortedWithinSteps(c.results())); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	if !slices.Contains(log.list(), "start rescue second: second fails on h2 h2") {
		t.Errorf("the rescue step did not see the failure: %v", log.list())
	}
	if s := sum.Hosts["h2"]; s.Failed != 0 || s.Rescued != 1 {
		t.Errorf("h2: failed=%d rescued=%d, want 0 and 1", s.Failed, s.Rescued)
	}
	if sum.Failed() {
		t.Error("the run failed although its only failure was rescued")
	}
}

// Without a rescue, a host that fails in a block still runs the always
// steps, then stays failed.
func TestBlockAlwaysRunsOnFailedHost(t *testing.T) {
	sum, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
steps:
  - name: guarded
    hosts: all
    block:
      - {name: work, task: t_record, with: {label: work, fail_on: [h1]}}
    always:
      - {name: cleanup, task: t_record, with: {label: cleanup}}
  - {name: after, hosts: all, task: t_record, with: {label: after}}
`},
		inv: localInventory(2, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"work h1 failed", "work h2 ok", "cleanup h1 ok", "cleanup h2 ok", "after h2 ok"}
	if diff := cmp.Diff(sortedWithinSteps(want), sortedWithinSteps(c.results())); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	if s := sum.Hosts["h1"]; s.Failed != 1 || s.Rescued != 0 {
		t.Errorf("h1: failed=%d rescued=%d, want 1 and 0", s.Failed, s.Rescued)
	}
}

// A rescue that fails leaves the host failed, counted once.
func TestBlockRescueThatFails(t *testing.T) {
	sum, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
steps:
  - name: guarded
    hosts: all
    block:
      - {name: work, task: t_record, with: {label: work, fail_on: [h1]}}
    rescue:
      - {name: undo, task: t_record, with: {label: undo, fail_on: [h1]}}
  - {name: after, hosts: all, task: t_record, with: {label: after}}
`},
		inv: localInventory(2, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"work h1 failed", "work h2 ok", "undo h1 failed", "after h2 ok"}
	if diff := cmp.Diff(sortedWithinSteps(want), sortedWithinSteps(c.results())); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	if s := sum.Hosts["h1"]; s.Failed != 1 || s.Rescued != 0 {
		t.Errorf("h1: failed=%d rescued=%d, want 1 and 0", s.Failed, s.Rescued)
	}
}

// A block's vars, when, tags and become reach its steps; its hosts
// narrow them.
func TestBlockSharesItsKeys(t *testing.T) {
	_, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
steps:
  - name: web only
    hosts: web
    when: .go
    vars: {go: true, word: shared}
    tags: [deploy]
    block:
      - {name: inner, task: t_record, with: {label: "inner {{ .word }}"}}
      - {name: everywhere, hosts: all, task: t_record, with: {label: everywhere}}
  - {name: untagged, hosts: all, task: t_record, with: {label: untagged}}
`},
		inv:  localInventory(3, "groups:\n  web: {hosts: [h1, h2]}\n"),
		opts: engine.Options{Tags: []string{"deploy"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"inner h1 ok", "inner h2 ok", "everywhere h1 ok", "everywhere h2 ok"}
	if diff := cmp.Diff(sortedWithinSteps(want), sortedWithinSteps(c.results())); diff != "" {
		t.Fatalf("results (-want +got):\n%s", diff)
	}
	if !slices.Contains(log.list(), "start inner shared h1") {
		t.Errorf("the block's vars did not reach its step: %v", log.list())
	}
}

// serial on a block runs the whole block on one batch before the next,
// in the order asked, flushes the handlers the batch notified at its end,
// and stops after a batch with more failures than max_fail_percentage.
func TestRollingBlock(t *testing.T) {
	_, _, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
steps:
  - name: roll
    hosts: all
    serial: 1
    order: reverse_inventory
    max_fail_percentage: 0
    block:
      - {name: drain, task: t_record, with: {label: drain}}
      - {name: restart, task: t_record, with: {label: restart, change: true}, notify: [verify]}
      - {name: check, task: t_record, with: {label: check, fail_on: [h2]}}
handlers:
  - {name: verify, task: t_record, with: {label: verify}}
`},
		inv: localInventory(3, ""),
	})
	var abort *engine.AbortError
	if !errors.As(err, &abort) || !strings.Contains(err.Error(), "max_fail_percentage") {
		t.Fatalf("err = %v, want the run stopped by max_fail_percentage", err)
	}
	got := started()
	// h2 fails its check: like Ansible, its handler does not run on it.
	want := []string{
		"drain h3", "restart h3", "check h3", "verify h3",
		"drain h2", "restart h2", "check h2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("order (-want +got):\n%s", diff)
	}
}

// order can be a template: the hosts are sorted by what it gives each,
// as a cluster's leader is put last.
func TestRollingOrderTemplate(t *testing.T) {
	_, _, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
vars: {leader: h1}
steps:
  - name: roll
    hosts: all
    serial: [1, 2]
    order: '{{ if eq .host.name .leader }}z{{ else }}a{{ end }}-{{ .host.name }}'
    block:
      - {name: restart, task: t_record, with: {label: restart}}
`},
		inv: localInventory(3, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := started()
	// Batches: [h2], then [h3, h1]: within a batch, hosts run together.
	if len(got) != 3 || got[0] != "restart h2" || got[2] != "restart h1" && got[1] != "restart h1" || slices.Index(got, "restart h1") < 1 {
		t.Fatalf("order %v: want h2 alone first and h1 in the last batch", got)
	}
}

// any_errors_fatal stops the run after the step where a host failed.
func TestAnyErrorsFatal(t *testing.T) {
	_, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
steps:
  - name: group
    hosts: all
    any_errors_fatal: true
    block:
      - {name: a, task: t_record, with: {label: a, fail_on: [h1]}}
      - {name: b, task: t_record, with: {label: b}}
`},
		inv: localInventory(2, ""),
	})
	if err == nil || !strings.Contains(err.Error(), "any_errors_fatal") {
		t.Fatalf("err = %v, want the run stopped", err)
	}
	if slices.ContainsFunc(c.results(), func(s string) bool { return strings.HasPrefix(s, "b ") }) {
		t.Fatalf("step b ran after a fatal error: %v", c.results())
	}
}

// throttle caps how many hosts run a step at once.
func TestThrottle(t *testing.T) {
	_, _, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
steps:
  - {name: a, hosts: all, task: t_record, with: {label: a}, throttle: 1}
`},
		inv: localInventory(4, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	if log.maxIn != 1 {
		t.Fatalf("%d hosts ran at once, want 1", log.maxIn)
	}
}

// serial on an import runs the imported runbook per batch.
func TestRollingImport(t *testing.T) {
	_, _, err := run(t, fixture{
		files: map[string]string{
			"site.yaml": `
steps:
  - {import: roll.yaml, hosts: all, serial: 1}
`,
			"roll.yaml": `
hosts: all
steps:
  - {name: drain, task: t_record, with: {label: drain}}
  - {name: restart, task: t_record, with: {label: restart}}
`},
		inv: localInventory(2, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := started()
	want := []string{"drain h1", "restart h1", "drain h2", "restart h2"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("order (-want +got):\n%s", diff)
	}
}

// .failure is defined in rescue steps only: elsewhere it is refused
// before any host is contacted.
func TestFailureOutsideRescueIsRefused(t *testing.T) {
	_, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
steps:
  - name: guarded
    hosts: all
    block:
      - {name: work, task: t_record, with: {label: "{{ .failure.message }}"}}
    rescue:
      - {name: undo, task: t_record, with: {label: "{{ .failure.message }}"}}
`},
		inv: localInventory(1, ""),
	})
	if err == nil || !strings.Contains(err.Error(), "only in the rescue steps") || strings.Count(err.Error(), "undefined") != 1 {
		t.Fatalf("err = %v, want .failure refused in the block's step only", err)
	}
	if len(c.results()) != 0 {
		t.Fatalf("steps ran: %v", c.results())
	}
}

// started lists "label host" for every Check that t_record started.
func started() []string {
	var out []string
	for _, e := range log.list() {
		if rest, ok := strings.CutPrefix(e, "start "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// A block's steps run only on the block's hosts: a block whose steps name
// only hosts outside it runs nothing, which is an error before the run.
func TestBlockOutsideItsHostsRunsNothing(t *testing.T) {
	_, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
steps:
  - name: db only
    hosts: db
    block:
      - {name: web step, hosts: web, task: t_record, with: {label: web}}
`},
		inv: localInventory(2, "groups:\n  web: {hosts: [h1]}\n  db: {hosts: [h2]}\n"),
	})
	if err == nil || !strings.Contains(err.Error(), `hosts: "web" selects no host within the hosts of its block`) || len(c.results()) != 0 {
		t.Fatalf("err = %v, results %v: want the empty run refused", err, c.results())
	}
}
