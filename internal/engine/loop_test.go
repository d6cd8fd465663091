package engine_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/engine"
)

// items lists "host item status" for every item result of step.
func (c *collector) items(step string) []string {
	var out []string
	for _, ev := range c.events {
		if ev.Type == engine.ItemResult && ev.Step == step {
			out = append(out, fmt.Sprintf("%s %s %s", ev.Host, ev.Item, ev.Status))
		}
	}
	return out
}

// starts lists, in order, the labels the t_record steps started with on host.
func starts(host string) []string {
	var out []string
	for _, e := range log.list() {
		if label, ok := strings.CutPrefix(e, "start "); ok && strings.HasSuffix(label, " "+host) {
			out = append(out, strings.TrimSuffix(label, " "+host))
		}
	}
	return out
}

func TestLoopRunsTheStepOncePerItem(t *testing.T) {
	site := `
vars: {users: [alice, bob, carol]}
steps:
  - name: add
    hosts: all
    task: t_record
    loop: "{{ .users }}"
    with: {label: "add-{{ .item }}", change: true, value: "{{ .item }}"}
    register: added
  - name: after
    hosts: all
    task: t_record
    with: {label: "{{ len .added.results }}-{{ (index .added.results 1).item }}-{{ (index .added.results 2).value }}-{{ .added.changed }}"}
`
	sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(2, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"h1", "h2"} {
		// One item after the other on a host, each checked and applied.
		want := []string{"add-alice", "add-bob", "add-carol", "3-bob-carol-true"}
		if diff := cmp.Diff(want, starts(h)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", h, diff)
		}
		ev := c.find("add", h)
		if ev.Status != engine.Changed || ev.Items != 3 {
			t.Errorf("%s: host result %+v, want changed with 3 items", h, ev)
		}
		if got := sum.Hosts[h]; got.Changed != 1 || got.OK != 2 {
			t.Errorf("%s: recap %+v: a loop counts once", h, got)
		}
	}
	want := []string{"h1 alice changed", "h1 bob changed", "h1 carol changed", "h2 alice changed", "h2 bob changed", "h2 carol changed"}
	if diff := cmp.Diff(want, sorted(c.items("add"))); diff != "" {
		t.Errorf("an item result each (-want +got):\n%s", diff)
	}
	for _, ev := range c.events {
		if ev.Type == engine.ItemResult && (len(ev.Changes) != 1 || ev.Changes[0] != "~ add-"+ev.Item) {
			t.Errorf("item %s reports %q, want its own change", ev.Item, ev.Changes)
		}
	}
}

func TestLoopOverAMappingAndWhenPerItem(t *testing.T) {
	site := `
steps:
  - name: m
    hosts: all
    task: t_record
    loop: {zed: 1, alpha: 2, mid: 3}
    loop_var: port
    when: ne .port.key "mid"
    with: {label: "{{ .port.key }}={{ .port.value }}"}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	// A literal mapping keeps the order it is written in.
	if diff := cmp.Diff([]string{"zed=1", "alpha=2"}, starts("h1")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	want := []string{"h1 zed ok", "h1 alpha ok", "h1 mid skipped"}
	if diff := cmp.Diff(want, c.items("m")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if ev := c.find("m", "h1"); ev.Status != engine.OK {
		t.Errorf("host result %+v, want ok", ev)
	}
}

// A condition that does not read the item is judged before the loop is
// rendered: it may guard the very variable the loop reads.
func TestLoopConditionGuardsTheLoop(t *testing.T) {
	site := `
steps:
  - {name: g, hosts: all, task: t_record, loop: "{{ .host.nope }}", when: "false", with: {label: x}}
  - {name: empty, hosts: all, task: t_record, loop: [], with: {label: x}}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	if ev := c.find("g", "h1"); ev.Status != engine.Skipped {
		t.Errorf("g: %+v", ev)
	}
	if ev := c.find("empty", "h1"); ev.Status != engine.Skipped || ev.Message != "loop: no items" {
		t.Errorf("empty: %+v", ev)
	}
}

func TestLoopFailures(t *testing.T) {
	site := `
vars: {name: alice}
steps:
  - {name: scalar, hosts: all, task: t_record, loop: "{{ .name }}", with: {label: x}, ignore_errors: true}
  - {name: some, hosts: all, task: t_record, loop: [h2, x, h2], with: {label: "{{ .item }}", fail_on: ["{{ .item }}"]}}
`
	sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(2, "")})
	if err != nil {
		t.Fatal(err)
	}
	ev := c.find("scalar", "h1")
	if ev.Status != engine.Failed || !strings.Contains(ev.Message, `site.yaml:4:54: loop: "{{ .name }}" gave the text "alice": want a list or a mapping`) {
		t.Errorf("scalar: %+v", ev)
	}
	// Every item runs; the host fails if any item did.
	if diff := cmp.Diff([]string{"h2 h2 failed", "h2 x ok", "h2 h2 failed"}, slices.DeleteFunc(c.items("some"), func(s string) bool { return strings.HasPrefix(s, "h1") })); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	ev = c.find("some", "h2")
	if ev.Status != engine.Failed || ev.Message != "2 of 3 items failed; item 1: h2 fails on h2" {
		t.Errorf("some on h2: %+v", ev)
	}
	if got := sum.Hosts["h2"]; got.Failed != 1 || got.Ignored != 1 {
		t.Errorf("h2: %+v", got)
	}
	if ev := c.find("some", "h1"); ev.Status != engine.OK {
		t.Errorf("some on h1: %+v", ev)
	}
}

// An import's loop runs every imported step for one item before the next
// item; loop_var names the outer item, which the inner loop can read.
func TestLoopOnAnImport(t *testing.T) {
	files := map[string]string{
		"site.yaml": `
vars: {zones: [a, b]}
steps:
  - {import: part.yaml, loop: "{{ .zones }}", loop_var: zone}
  - {name: after, hosts: all, task: t_record, with: {label: after}}
`,
		"part.yaml": `
vars: {prefix: "z-{{ .zone }}"}
steps:
  - {name: one, hosts: all, task: t_record, loop: [1, 2], with: {label: "{{ .prefix }}-{{ .item }}"}}
  - {name: two, hosts: all, task: t_record, with: {label: "two-{{ .zone }}"}}
`,
	}
	_, c, err := run(t, fixture{files: files, inv: localInventory(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"z-a-1", "z-a-2", "two-a", "z-b-1", "z-b-2", "two-b", "after"}
	if diff := cmp.Diff(want, starts("h1")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	var labels []string
	for _, ev := range c.events {
		if ev.Type == engine.StepStart {
			labels = append(labels, ev.Step+"/"+ev.Item)
		}
	}
	if diff := cmp.Diff([]string{"one/a", "two/a", "one/b", "two/b", "after/"}, labels); diff != "" {
		t.Errorf("step starts name the import's item (-want +got):\n%s", diff)
	}
}

func TestLoopInCheckMode(t *testing.T) {
	site := `
steps:
  - {name: l, hosts: all, task: t_record, loop: [a, b], with: {label: "{{ .item }}", change: true}, register: r}
  - {name: n, hosts: all, task: t_record, with: {label: "n-{{ len .r.results }}"}}
`
	sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, ""), opts: engine.Options{Check: true}})
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(log.list(), func(e string) bool { return strings.HasPrefix(e, "apply") }) {
		t.Errorf("check mode applied: %v", log.list())
	}
	if diff := cmp.Diff([]string{"h1 a changed", "h1 b changed"}, c.items("l")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if !sum.Changed() || c.find("n", "h1").Status != engine.OK {
		t.Errorf("summary %+v, n %+v", sum.Hosts["h1"], c.find("n", "h1"))
	}
}

func TestCheckRefusesBadLoopsAndDelegates(t *testing.T) {
	tests := []struct {
		name, site, want string
		files            map[string]string
	}{{
		name: "an import's loop reads a host's variable",
		site: "steps:\n  - {import: part.yaml, loop: \"{{ .http_port }}\", loop_var: i}\n",
		want: `site.yaml:2:31: loop: undefined variable "http_port": the loop of an import reads the runbook's vars, -e, .groups, .hostvars, .check_mode and the items of the looping imports around it`,
	}, {
		name: "an import's loop that gives no list",
		site: "vars: {x: 3}\nsteps:\n  - {import: part.yaml, loop: \"{{ .x }}\", loop_var: i}\n",
		want: `site.yaml:3:31: loop: "{{ .x }}" gave 3: want a list or a mapping`,
	}, {
		name: "an inner loop that hides the import's item",
		site: "steps:\n  - {import: part.yaml, loop: [1, 2]}\n",
		want: `part.yaml:2:49: loop: .item is already the item of a looping import this step is in, which it would hide: give one of the loops another name with loop_var:`,
	}, {
		name: "the loop's item read by a variable",
		site: "vars: {p: \"/x/{{ .item }}\"}\nsteps:\n" + step("web01", "loop: [a], with: {label: x}"),
		want: `site.yaml:1:11: undefined variable "item" on web01 (read by variable "p")`,
	}, {
		name: "delegate_to a host the inventory does not have",
		site: "steps:\n" + step("web", "delegate_to: web03, with: {label: x}"),
		want: `site.yaml:2:56: delegate_to: no host "web03" in the inventory; did you mean "web01"?: name an inventory host, or local for the controller`,
	}, {
		name: "delegate_to reads an undefined variable",
		site: "steps:\n" + step("web", `delegate_to: "{{ .peer }}", with: {label: x}`),
		want: `site.yaml:2:56: undefined variable "peer" on web01, web02`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"site.yaml": tt.site,
				"part.yaml": "steps:\n  - {name: p, hosts: web, task: t_record, loop: [a], with: {label: \"{{ .item }}\"}}\n"}
			got := check(t, files, engine.Options{})
			if !strings.Contains(got, tt.want) {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestCheckAcceptsLoopsAndDelegates(t *testing.T) {
	site := `
vars: {zones: [a]}
steps:
  - {import: part.yaml, loop: "{{ .groups.web }}", loop_var: w}
  - {name: d, hosts: web, task: t_record, delegate_to: "{{ .item }}", loop: "{{ .groups.db }}", with: {label: "{{ .item }}"}}
  - {name: l, hosts: all, task: t_record, delegate_to: local, with: {label: "{{ .host.name }}"}}
`
	part := "steps:\n  - {name: p, hosts: web, task: t_record, loop: \"{{ .zones }}\", with: {label: \"{{ .w }}-{{ .item }}\"}}\n"
	if got := check(t, map[string]string{"site.yaml": site, "part.yaml": part}, engine.Options{}); got != "" {
		t.Error(got)
	}
}

// An item made from a secret is hidden where output names the item.
func TestLoopItemsKeepSecrets(t *testing.T) {
	site := `
vars: {pw: !secret hunter2-long, keys: !secret [another-secret]}
steps:
  - {name: s, hosts: all, task: t_record, loop: ["{{ .pw }}", "{{ upper .pw }}", plain], with: {label: x}}
  - {name: k, hosts: all, task: t_record, loop: "{{ .keys }}", with: {label: y}}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"h1 ******** ok", "h1 ******** ok", "h1 plain ok"}
	if diff := cmp.Diff(want, c.items("s")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"h1 ******** ok"}, c.items("k")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// A loop in which one item changed and another failed registers changed
// as well as failed, as Ansible does: a handler-like later step must know
// the host was changed.
func TestLoopRegistersChangedWithAFailure(t *testing.T) {
	_, _, err := run(t, fixture{files: map[string]string{"site.yaml": `
steps:
  - name: add
    hosts: all
    task: t_record
    loop: [a, b]
    with: {label: "add-{{ .item }}", change: true, fail_on: ["{{ if eq .item \"b\" }}h1{{ end }}"]}
    register: added
    ignore_errors: true
  - {name: after, hosts: all, task: t_record, with: {label: "changed={{ .added.changed }} failed={{ .added.failed }}"}}
`}, inv: localInventory(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	if got := starts("h1"); !slices.Contains(got, "changed=true failed=true") {
		t.Fatalf("registered %v, want changed=true failed=true", got)
	}
}
