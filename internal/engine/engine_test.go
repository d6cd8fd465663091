package engine_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/output"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/inventory"
	_ "github.com/runbookdev/runbook/tasks/all"
	"gopkg.in/yaml.v3"
)

type collector struct {
	mu     sync.Mutex
	events []engine.Event
}

func (c *collector) Report(ev engine.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.events = append(c.events, ev)
}

// results lists "step host status" for every host result.
func (c *collector) results() []string {
	var out []string
	for _, ev := range c.events {
		if ev.Type == engine.HostResult {
			out = append(out, fmt.Sprintf("%s %s %s", ev.Step, ev.Host, ev.Status))
		}
	}
	return out
}

func (c *collector) find(step, host string) engine.Event {
	for _, ev := range c.events {
		if ev.Type == engine.HostResult && ev.Step == step && ev.Host == host {
			return ev
		}
	}
	return engine.Event{}
}

// localInventory is n local-connection hosts h1..hn, with groups.
func localInventory(n int, groups string) string {
	var b strings.Builder
	b.WriteString("defaults: {connection: local}\nhosts:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  h%d:\n", i)
	}
	b.WriteString(groups)
	return b.String()
}

type fixture struct {
	files map[string]string // name -> content; "site.yaml" is run
	inv   string
	opts  engine.Options
	ctx   context.Context
	log   *slog.Logger
}

func run(t *testing.T, f fixture) (*engine.Summary, *collector, error) {
	t.Helper()
	log.reset()
	dir := t.TempDir()
	invPath := filepath.Join(dir, "inventory.yaml")
	for name, content := range f.files {
		content = strings.ReplaceAll(content, "INVENTORY", invPath)
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(invPath, []byte(f.inv), 0o644); err != nil {
		t.Fatal(err)
	}
	rb, err := runbook.Load(filepath.Join(dir, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := inventory.Open(invPath)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	pool := &transport.Pool{}
	defer pool.Close()
	ctx := f.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	eng := engine.New(f.opts, inventory.Sources{p}, pool, c, f.log)
	sum, err := eng.Run(ctx, rb)
	return sum, c, err
}

func TestStepsRunInOrderOnEveryHost(t *testing.T) {
	_, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": `
steps:
  - {name: one, hosts: all, task: t_record, with: {label: one}}
  - {name: two, hosts: web, task: t_record, with: {label: two}}
  - {name: three, hosts: "all:!web", task: t_record, with: {label: three}}
`},
		inv: localInventory(3, "groups:\n  web: {hosts: [h1, h2]}\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"one h1 ok", "one h2 ok", "one h3 ok", "two h1 ok", "two h2 ok", "three h3 ok"}
	got := c.results()
	// Within a step hosts finish in any order; steps are strictly ordered.
	if diff := cmp.Diff(sortedWithinSteps(want), sortedWithinSteps(got)); diff != "" {
		t.Errorf("results (-want +got):\n%s", diff)
	}
	entries := log.list()
	lastOne := slices.Index(entries, "end one h3")
	for _, e := range entries {
		if strings.HasPrefix(e, "start two") && slices.Index(entries, e) < lastOne {
			t.Errorf("step two started before step one ended: %v", entries)
		}
	}
}

func sortedWithinSteps(results []string) []string {
	out := slices.Clone(results)
	slices.SortStableFunc(out, func(a, b string) int {
		sa, sb := strings.Fields(a)[0], strings.Fields(b)[0]
		if sa != sb {
			return 0
		}
		return strings.Compare(a, b)
	})
	return out
}

func TestHostsRunInParallel(t *testing.T) {
	sum, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": "steps:\n  - {name: meet, hosts: all, task: t_barrier, with: {n: 20}}\n"},
		inv:   localInventory(20, ""),
	})
	if err != nil || sum.Failed() {
		t.Fatalf("err=%v results=%v", err, c.results())
	}
}

func TestForksBoundParallelism(t *testing.T) {
	sum, _, err := run(t, fixture{
		files: map[string]string{"site.yaml": "steps:\n  - {name: r, hosts: all, task: t_record, with: {label: r}}\n"},
		inv:   localInventory(12, ""),
		opts:  engine.Options{Forks: 3},
	})
	if err != nil || sum.Failed() {
		t.Fatal(err)
	}
	if log.maxIn > 3 {
		t.Errorf("%d hosts ran at once with --forks 3", log.maxIn)
	}
}

func TestSerialBatches(t *testing.T) {
	_, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": "steps:\n  - {name: roll, hosts: all, task: t_record, serial: [1, \"40%\"], with: {label: roll}}\n"},
		inv:   localInventory(6, ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	// Batches: [h1], then 40% of 6 = 2 at a time: [h2 h3] [h4 h5] [h6].
	batches := [][]string{{"h1"}, {"h2", "h3"}, {"h4", "h5"}, {"h6"}}
	entries := log.list()
	for i := 1; i < len(batches); i++ {
		for _, prev := range batches[i-1] {
			for _, next := range batches[i] {
				if slices.Index(entries, "start roll "+next) < slices.Index(entries, "end roll "+prev) {
					t.Fatalf("%s started before %s (previous batch) ended: %v", next, prev, entries)
				}
			}
		}
	}
	if log.maxIn > 2 {
		t.Errorf("%d hosts at once, batches are at most 2", log.maxIn)
	}
	if len(c.results()) != 6 {
		t.Errorf("results: %v", c.results())
	}
}

func TestMaxFailPercentageStopsTheRun(t *testing.T) {
	site := `
steps:
  - {name: a, hosts: all, task: t_record, with: {label: a, fail_on: [h1]}}
  - {name: b, hosts: all, task: t_record, with: {label: b, fail_on: [h2, h3]}, max_fail_percentage: 50}
  - {name: c, hosts: all, task: t_record, with: {label: c}}
`
	sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(4, "")})
	var abort *engine.AbortError
	if !errors.As(err, &abort) || !strings.Contains(err.Error(), "max_fail_percentage") {
		t.Fatalf("err = %v, want the run stopped by max_fail_percentage", err)
	}
	want := []string{"a h1 failed", "a h2 ok", "a h3 ok", "a h4 ok", "b h2 failed", "b h3 failed", "b h4 ok"}
	if diff := cmp.Diff(want, sorted(c.results())); diff != "" {
		t.Errorf("h1 should drop out after failing, and c never run (-want +got):\n%s", diff)
	}
	if !sum.Failed() || sum.Hosts["h1"].Failed != 1 || sum.Hosts["h4"].OK != 2 {
		t.Errorf("recap: %+v", sum.Hosts)
	}
}

func sorted(s []string) []string { slices.Sort(s); return s }

func TestWithoutMaxFailTheRunGoesOn(t *testing.T) {
	site := `
steps:
  - {name: a, hosts: all, task: t_record, with: {label: a, fail_on: [h1, h2]}}
  - {name: b, hosts: all, task: t_record, with: {label: b}, ignore_errors: true}
  - {name: c, hosts: all, task: t_record, with: {label: c, fail_on: [h3]}, ignore_errors: true}
  - {name: d, hosts: all, task: t_record, with: {label: d}}
`
	sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(3, "")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"a h1 failed", "a h2 failed", "a h3 ok", "b h3 ok", "c h3 failed", "d h3 ok"}
	if diff := cmp.Diff(want, sorted(c.results())); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if ev := c.find("c", "h3"); !ev.Ignored {
		t.Errorf("c on h3 should be an ignored failure: %+v", ev)
	}
	if got := sum.Hosts["h3"]; got.Failed != 0 || got.Ignored != 1 {
		t.Errorf("h3 recap = %+v", got)
	}
}

func TestHandlersRunOnceAtTheEndWhereChanged(t *testing.T) {
	site := `
steps:
  - {name: s1, hosts: all, task: t_record, with: {label: s1, change: "{{ eq .host.name \"h1\" }}"}, notify: restart}
  - {name: s2, hosts: all, task: t_record, with: {label: s2, change: true}, notify: [restart]}
  - {name: s3, hosts: all, task: t_record, with: {label: s3}}
handlers:
  - {name: restart, task: t_record, with: {label: restart}}
  - {name: unused, task: t_record, with: {label: unused}}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(2, "")})
	if err != nil {
		t.Fatal(err)
	}
	var handler []string
	for _, r := range c.results() {
		if strings.HasPrefix(r, "restart") || strings.HasPrefix(r, "unused") {
			handler = append(handler, r)
		}
	}
	if diff := cmp.Diff([]string{"restart h1 ok", "restart h2 ok"}, sorted(handler)); diff != "" {
		t.Errorf("handler runs (-want +got):\n%s", diff)
	}
	entries := log.list()
	if slices.Index(entries, "start restart h1") < slices.Index(entries, "end s3 h2") {
		t.Errorf("handler ran before the last step: %v", entries)
	}
}

func TestHandlersOfAnImportRunAtItsEnd(t *testing.T) {
	files := map[string]string{
		"site.yaml": `
vars: {who: site}
steps:
  - {import: lib/part.yaml, vars: {who: importer}}
  - {name: after, hosts: all, task: t_record, with: {label: after}}
`,
		"lib/part.yaml": `
vars: {who: part-default, other: "{{ .who }}-x"}
steps:
  - {name: inner, hosts: all, task: t_record, with: {label: "inner-{{ .other }}", change: true}, notify: h}
handlers:
  - {name: h, task: t_record, with: {label: handler}}
`,
	}
	_, _, err := run(t, fixture{files: files, inv: localInventory(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"start inner-importer-x h1", "end inner-importer-x h1", "apply inner-importer-x h1",
		"start handler h1", "end handler h1", "start after h1", "end after h1"}
	if diff := cmp.Diff(want, log.list()); diff != "" {
		t.Errorf("import vars override the imported defaults; handlers run at the import's end (-want +got):\n%s", diff)
	}
}

func TestRetriesUntil(t *testing.T) {
	site := `
steps:
  - {name: flaky, hosts: all, task: t_flaky, with: {failures: 2}, retries: 3, delay: 0s, register: r}
  - {name: until, hosts: all, task: t_flaky, with: {failures: 0}, retries: 5, delay: 0, until: "ge .result.attempt 6"}
  - {name: never, hosts: all, task: t_flaky, with: {failures: 0}, retries: 1, delay: 0, until: "false"}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.find("flaky", "h1").Status; got != engine.OK {
		t.Errorf("flaky = %s, want ok after 2 retries", got)
	}
	if got := c.find("until", "h1").Status; got != engine.OK {
		t.Errorf("until = %s: attempts 4..6 should reach the condition", got)
	}
	ev := c.find("never", "h1")
	if ev.Status != engine.Failed || !strings.Contains(ev.Message, "after 2 attempts") {
		t.Errorf("never = %+v", ev)
	}
	retries := 0
	for _, ev := range c.events {
		if ev.Type == engine.Retry {
			retries++
		}
	}
	if retries != 2+2+1 {
		t.Errorf("%d retry events, want 5", retries)
	}
}

func TestTimeout(t *testing.T) {
	site := "steps:\n  - {name: slow, hosts: all, task: t_sleep, with: {for: 30s}, timeout: 200ms}\n  - {name: next, hosts: all, task: t_record, with: {label: next}}\n"
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(2, "")})
	if err != nil {
		t.Fatal(err)
	}
	ev := c.find("slow", "h1")
	if ev.Status != engine.Failed || !strings.Contains(ev.Message, "timed out after 200ms") {
		t.Errorf("slow = %+v", ev)
	}
	if len(c.results()) != 2 {
		t.Errorf("timed-out hosts should not go on: %v", c.results())
	}
}

func TestCancellationStopsTheRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for {
			if slices.Contains(log.list(), "sleep h1") {
				cancel()
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	site := "steps:\n  - {name: slow, hosts: all, task: t_sleep, with: {for: 60s}}\n  - {name: next, hosts: all, task: t_record, with: {label: next}}\n"
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(3, ""), ctx: ctx})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	for _, r := range c.results() {
		if strings.HasPrefix(r, "next") {
			t.Errorf("a step ran after cancellation: %v", c.results())
		}
	}
	last := c.events[len(c.events)-1]
	if last.Type != engine.Recap || !strings.Contains(last.Message, "interrupted") {
		t.Errorf("last event = %+v, want a recap saying the run was interrupted", last)
	}
}

func TestPanicIsAFailureNotACrash(t *testing.T) {
	site := "steps:\n  - {name: p, hosts: all, task: t_panic}\n"
	sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(2, "")})
	if err != nil {
		t.Fatal(err)
	}
	ev := c.find("p", "h2")
	if ev.Status != engine.Failed || !strings.Contains(ev.Message, "panicked: boom") {
		t.Errorf("p = %+v", ev)
	}
	if !sum.Failed() {
		t.Error("summary should say failed")
	}
}

func TestCheckModeNeverApplies(t *testing.T) {
	site := `
steps:
  - {name: make, hosts: all, task: t_record, with: {label: make, change: true}}
  - {name: use, hosts: all, task: t_needs}
  - {name: unrelated, hosts: web, task: t_needs}
`
	sum, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": site},
		inv:   localInventory(2, "groups:\n  web: {hosts: [h1]}\n"),
		opts:  engine.Options{Check: true, Limit: []string{"h1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range log.list() {
		if strings.HasPrefix(e, "apply") {
			t.Fatalf("check mode applied: %v", log.list())
		}
	}
	// "use" cannot be checked until "make" has run: unknown, reported as
	// would change, not as a failure.
	if ev := c.find("use", "h1"); ev.Status != engine.Changed || !strings.Contains(strings.Join(ev.Changes, " "), "unknown") {
		t.Errorf("use = %+v", ev)
	}
	if sum.Failed() || !sum.Changed() {
		t.Errorf("summary: %+v", sum.Hosts)
	}
	if _, ok := sum.Hosts["h2"]; ok {
		t.Error("--limit h1 ran on h2")
	}
}

// What only doing it tells (how long a wait took) comes back from Apply:
// it is reported and registered; without it, Check's summary stands.
func TestApplyReportsWhatItDid(t *testing.T) {
	site := `
steps:
  - {name: act, hosts: all, task: t_done, with: {did: "waited 3s"}, register: out}
  - {name: as-checked, hosts: all, task: t_done, register: plain}
  - {name: use, hosts: all, task: t_record, with: {label: "{{ .out.did }}/{{ .plain.did }}"}}
`
	for _, check := range []bool{false, true} {
		_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, ""), opts: engine.Options{Check: check}})
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]string{"act": {"waited 3s"}, "as-checked": {"~ will act"}}
		label := "start waited 3s/as checked h1"
		if check {
			want["act"] = []string{"~ will act"}
			label = "start nothing yet/nothing yet h1"
		}
		for step, changes := range want {
			if ev := c.find(step, "h1"); ev.Status != engine.Changed || !slices.Equal(ev.Changes, changes) {
				t.Errorf("check=%v: %s = %s %q, want changed %q", check, step, ev.Status, ev.Changes, changes)
			}
		}
		if !slices.Contains(log.list(), label) {
			t.Errorf("check=%v: registered values: %v, want %q", check, log.list(), label)
		}
	}
}

// Rendered parameters are provisioned (the regexp compiled) and validated
// before the module's Check, on each host.
func TestRenderedParamsAreProvisioned(t *testing.T) {
	site := `
steps:
  - {name: edit, hosts: all, task: line, with: {path: /nonexistent/conf, regexp: "{{ .re }}", line: "a = 1"}}
`
	_, c, _ := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, "vars: {re: \"^(a\"}\n")})
	ev := c.find("edit", "h1")
	if want := "site.yaml:3:5: task line: regexp: error parsing regexp: missing closing )"; ev.Status != engine.Failed || !strings.Contains(ev.Message, want) {
		t.Errorf("edit = %s %q, want failed %q", ev.Status, ev.Message, want)
	}
}

func TestCheckModeFailsWhenNothingIsPending(t *testing.T) {
	site := "steps:\n  - {name: use, hosts: all, task: t_needs}\n"
	sum, c, _ := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, ""), opts: engine.Options{Check: true}})
	if ev := c.find("use", "h1"); ev.Status != engine.Failed || !sum.Failed() {
		t.Errorf("a module error with no pending change is a real failure: %+v", ev)
	}
}

func TestWhenTagsRegisterAndVarPrecedence(t *testing.T) {
	site := `
vars: {env: dev, who: runbook}
steps:
  - {name: reg, hosts: all, task: t_record, with: {label: reg, value: "{{ .who }}-{{ .host.name }}"}, register: out, tags: [a]}
  - {name: uses, hosts: all, task: t_record, with: {label: "got-{{ .out.value }}"}, tags: [b]}
  - {name: prod-only, hosts: all, task: t_record, with: {label: prod}, when: 'eq .env "prod"', tags: [a]}
  - {name: always, hosts: all, task: t_record, with: {label: always}, tags: [always]}
  - {name: untagged, hosts: all, task: t_record, with: {label: untagged}}
`
	inv := localInventory(2, "vars: {who: inventory-all}\ngroups:\n  g: {hosts: [h2], vars: {who: group}}\n")
	_, c, err := run(t, fixture{
		files: map[string]string{"site.yaml": site},
		inv:   strings.Replace(inv, "  h1:\n", "  h1: {vars: {who: host}}\n", 1),
		opts:  engine.Options{Tags: []string{"a", "b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	entries := log.list()
	for _, want := range []string{"start got-host-h1 h1", "start got-group-h2 h2", "start always h1"} {
		if !slices.Contains(entries, want) {
			t.Errorf("missing %q in %v", want, entries)
		}
	}
	for _, e := range entries {
		if strings.Contains(e, "untagged") || strings.Contains(e, "prod") {
			t.Errorf("%q should not have run", e)
		}
	}
	if ev := c.find("prod-only", "h1"); ev.Status != engine.Skipped || !strings.Contains(ev.Message, "condition is false") {
		t.Errorf("prod-only = %+v", ev)
	}
}

func TestExtraVarsWin(t *testing.T) {
	site := "vars: {v: runbook}\nsteps:\n  - {name: s, hosts: all, task: t_record, with: {label: \"{{ .v }}\"}}\n"
	_, _, err := run(t, fixture{
		files: map[string]string{"site.yaml": site},
		inv:   localInventory(1, ""),
		opts:  engine.Options{ExtraVars: mustVars(t, "v: cli")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(log.list(), "start cli h1") {
		t.Errorf("-e should win: %v", log.list())
	}
}

// TestUndefinedVariablesAreRefusedBeforeTheRun: they were found on each
// host when the step ran, after earlier steps had changed the hosts.
func TestUndefinedVariablesAreRefusedBeforeTheRun(t *testing.T) {
	site := "vars: {v: runbook}\nsteps:\n  - {name: bad, hosts: all, task: t_record, with: {label: \"{{ .nope }}\"}}\n  - {name: s, hosts: all, task: t_record, with: {label: \"{{ .v }}\"}}\n"
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, "")})
	if err == nil || !strings.Contains(err.Error(), `site.yaml:3:59: undefined variable "nope" on h1`) || !strings.Contains(err.Error(), "-e nope=...") {
		t.Fatalf("err = %v, want the undefined variable, where it is read", err)
	}
	if len(c.events) > 0 || len(log.list()) > 0 {
		t.Errorf("the run started: %v %v", c.results(), log.list())
	}
}

func TestSecretsAreNeverShown(t *testing.T) {
	site := `
vars:
  token: !secret s3cr3t-value
steps:
  - {name: uses, hosts: all, task: t_record, with: {label: "token={{ .token }}", change: true}}
  - {name: param, hosts: all, task: t_record, with: {label: !secret "lit-{{ .host.name }}", change: true, fail_on: [h1]}}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range rendered(c.events) {
		if strings.Contains(out, "s3cr3t-value") || strings.Contains(out, "lit-h1") {
			t.Errorf("secret shown:\n%s", out)
		}
		if !strings.Contains(out, "********") {
			t.Errorf("no mask in:\n%s", out)
		}
	}
}

// TestSecretsStayOutOfDiagnostics: -v logs what a module panicked with,
// which may be a rendered secret.
func TestSecretsStayOutOfDiagnostics(t *testing.T) {
	site := `
vars:
  token: !secret diag-S3cret
steps:
  - {name: p, hosts: all, task: t_panic, with: {msg: "{{ .token | upper }} inside"}}
`
	var diag bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&diag, &slog.HandlerOptions{Level: slog.LevelDebug}))
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, ""), log: logger})
	if err != nil {
		t.Fatal(err)
	}
	ev := c.find("p", "h1")
	// The whole message is secret: it was rendered from the secret.
	if !strings.Contains(diag.String(), "task panicked") || !strings.Contains(ev.Message, "panicked: ********") || strings.Contains(ev.Message, "inside") {
		t.Fatalf("the panic is not reported: %q\n%s", ev.Message, diag.String())
	}
	if strings.Contains(diag.String(), "DIAG-S3CRET") {
		t.Errorf("secret in diagnostics:\n%s", diag.String())
	}
}

func mustVars(t *testing.T, y string) map[string]tmpl.Var {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(y), &doc); err != nil {
		t.Fatal(err)
	}
	vars, err := tmpl.ParseVars("-e", doc.Content[0])
	if err != nil {
		t.Fatal(err)
	}
	return vars
}

func TestInventoryChangesDuringTheRun(t *testing.T) {
	site := `
steps:
  - name: add a host
    hosts: local
    task: file
    with:
      path: INVENTORY
      content: "defaults: {connection: local}\nhosts: {h1: , h2: }\n"
  - {name: all, hosts: all, task: t_record, with: {label: all}}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, "")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"add a host local changed", "all h1 ok", "all h2 ok"}
	if diff := cmp.Diff(want, sorted(c.results())); diff != "" {
		t.Errorf("a host added by a step on the controller is seen by later steps (-want +got):\n%s", diff)
	}
}

// rendered is what the person watching sees of events: text and JSON.
func rendered(events []engine.Event) []string {
	var text, js bytes.Buffer
	tr, jr := output.NewText(&text), output.NewJSON(&js)
	for _, ev := range events {
		tr.Report(ev)
		jr.Report(ev)
	}
	return []string{text.String(), js.String()}
}
