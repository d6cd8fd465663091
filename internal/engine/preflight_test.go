package engine_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/inventory"
)

// fleet is reached over SSH, so no step runs on the controller and every
// step's hosts are known before the run. Nothing connects: Check does not.
const fleet = `
defaults: {address: 127.0.0.1, port: 1}
vars: {region: eu}
hosts:
  web01: {vars: {http_port: 8080}}
  web02: {vars: {http_port: 8080}}
  db01:
  db02:
groups:
  web: {hosts: [web01, web02]}
  db: {hosts: [db01, db02]}
`

// check loads files (site.yaml is the runbook, hosts.yaml the inventory)
// and returns Check's error with the directory taken out.
func check(t *testing.T, files map[string]string, opts engine.Options) string {
	t.Helper()
	dir := t.TempDir()
	if _, ok := files["hosts.yaml"]; !ok {
		files["hosts.yaml"] = fleet
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rb, err := runbook.Load(filepath.Join(dir, "site.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := inventory.Open(filepath.Join(dir, "hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Sources{p}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Check(rb, inv, opts); err != nil {
		return strings.ReplaceAll(err.Error(), dir+"/", "")
	}
	return ""
}

func step(hosts, rest string) string {
	return "  - {name: s, hosts: " + hosts + ", task: t_record, " + rest + "}\n"
}

// TestCheckRefusesWhatWouldFailOrDoNothing: each of these ran until a
// host failed, or ran on the wrong hosts, or did nothing and exited 0.
func TestCheckRefusesWhatWouldFailOrDoNothing(t *testing.T) {
	tests := []struct {
		name  string
		site  string
		files map[string]string
		opts  engine.Options
		want  string
	}{{
		name: "an exclusion that matches nothing",
		site: "steps:\n" + step(`"all:!dbb"`, "with: {label: x}"),
		want: `site.yaml:2:22: hosts: "all:!dbb": no host or group "dbb"; did you mean "db"?`,
	}, {
		name: "an intersection that matches nothing",
		site: "steps:\n" + step(`"all:&wbe"`, "with: {label: x}"),
		want: `site.yaml:2:22: hosts: "all:&wbe": no host or group "wbe"; did you mean "db"?`,
	}, {
		name: "a name in a list",
		site: "steps:\n" + step("[web, dbs]", "with: {label: x}"),
		want: `site.yaml:2:28: hosts: "dbs": no host or group "dbs"; did you mean "db"?`,
	}, {
		name: "--limit that matches nothing",
		site: "steps:\n" + step("all", "with: {label: x}"),
		opts: engine.Options{Limit: []string{"nosuchhost"}},
		want: `--limit "nosuchhost": no host or group "nosuchhost"`,
	}, {
		name: "--limit that no step runs on",
		site: "steps:\n" + step("web", "with: {label: x}"),
		opts: engine.Options{Limit: []string{"db01"}},
		want: `--limit db01: no step of site.yaml runs on these hosts (hosts: "web" at site.yaml:2:22)`,
	}, {
		name: "--tags and --skip-tags that no step has",
		site: "steps:\n" + step("all", "with: {label: x}, tags: [config]"),
		opts: engine.Options{Tags: []string{"confg"}, SkipTags: []string{"slow"}},
		want: "2 errors:\n" +
			`--tags "confg": no step has this tag; did you mean "config"? (tags: config)` + "\n" +
			`--skip-tags "slow": no step has this tag (tags: config)`,
	}, {
		name: "a variable nobody defines",
		site: "vars: {port: 80}\nsteps:\n" + step("all", `with: {label: "{{ .prot }}"}`),
		want: `site.yaml:3:57: undefined variable "prot" on web01, web02, db01 and 1 more: define it in the runbook's vars, the inventory or with -e prot=...; did you mean "port"?`,
	}, {
		name: "a variable the inventory defines for some hosts only",
		site: "steps:\n" + step("all", `with: {label: "{{ .http_port }}"}`),
		want: `site.yaml:2:57: undefined variable "http_port" on db01, db02: the inventory defines it only for web01, web02`,
	}, {
		name: "registered by a later step",
		site: "steps:\n" + step("all", `with: {label: "{{ .out.value }}"}`) +
			"  - {name: later, hosts: all, task: t_record, with: {label: y}, register: out}\n",
		want: `site.yaml:2:57: undefined variable "out" on web01, web02, db01 and 1 more: step "later" at site.yaml:3:5 registers it, but runs after this one`,
	}, {
		name: "registered on other hosts",
		site: "steps:\n  - {name: reg, hosts: web, task: t_record, with: {label: y}, register: out}\n" +
			step("all", `with: {label: "{{ .out.value }}"}`),
		want: `site.yaml:3:57: undefined variable "out" on db01, db02: step "reg" at site.yaml:2:5 registers it, but does not run on these hosts`,
	}, {
		name: "registered by a step --tags leaves out",
		site: "steps:\n  - {name: reg, hosts: all, task: t_record, with: {label: y}, register: out, tags: [a]}\n" +
			step("all", `with: {label: "{{ .out.value }}"}, tags: [b]`),
		opts: engine.Options{Tags: []string{"b"}},
		want: `site.yaml:3:57: undefined variable "out" on web01, web02, db01 and 1 more: step "reg" at site.yaml:2:5 registers it, but --tags or --skip-tags leave that step out`,
	}, {
		name: "a variable that reads an undefined one",
		site: "vars: {url: \"http://{{ .hostname }}/\"}\nsteps:\n" + step("web", "with: {label: x}"),
		want: `site.yaml:1:13: undefined variable "hostname" on web01, web02 (read by variable "url"): define it in the runbook's vars, the inventory or with -e hostname=...`,
	}, {
		name: "a cycle among variables",
		site: "vars: {a: \"{{ .b }}\", b: \"x{{ .a }}\"}\nsteps:\n" + step("web", "with: {label: x}"),
		want: `site.yaml:1:11: variable "a" refers to itself: a -> b -> a`,
	}, {
		name: "a condition on a variable that is not a boolean",
		site: "vars: {debug: \"yes\"}\nsteps:\n" + step("web", "with: {label: x}, when: .debug"),
		want: `site.yaml:3:67: condition ".debug" reads variable "debug", set to "yes" at site.yaml:1:15, which is neither true nor false: set it to true or false, or compare it (eq .debug "...")`,
	}, {
		name:  "a template file that reads an undefined variable",
		site:  "steps:\n  - {name: cfg, hosts: web, task: template, with: {src: app.conf.tmpl, dest: /etc/app.conf}}\n",
		files: map[string]string{"app.conf.tmpl": "port = {{ .http_port }}\nname = {{ .app_name }}\n"},
		want:  `app.conf.tmpl:2:11: undefined variable "app_name" on web01, web02 (the src of step "cfg" at site.yaml:2:5): define it in the runbook's vars, the inventory or with -e app_name=...`,
	}, {
		name:  "a key file that is not there",
		site:  "steps:\n" + step("all", "with: {label: x}"),
		files: map[string]string{"hosts.yaml": "defaults: {address: 127.0.0.1, key: nokey}\nhosts:\n  h1:\n  h2:\n  h3: {connection: local}\n"},
		want:  `hosts.yaml:1:37: key nokey (for h1, h2): no such file: fix key: in the inventory, or remove it to use ssh-agent and --private-key`,
	}, {
		name: "a hosts template without its variable",
		site: "steps:\n" + step(`"{{ .target }}"`, "with: {label: x}"),
		want: `site.yaml:2:22: hosts: undefined variable "target": hosts: can read the runbook's vars and -e only, as no host is chosen yet (-e target=...)`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := map[string]string{"site.yaml": tt.site}
			for k, v := range tt.files {
				files[k] = v
			}
			got := check(t, files, tt.opts)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestCheckAcceptsWhatMayWellWork: what only the run can judge is left to
// it, rather than refused on a guess.
func TestCheckAcceptsWhatMayWellWork(t *testing.T) {
	tests := map[string]struct {
		site  string
		extra string // -e
	}{
		"a step condition guards what it renders": {site: "steps:\n" +
			step("all", `with: {label: "{{ .http_port }}"}, when: 'has "web" .host.groups'`)},
		"an if guards what it renders": {site: "vars: {tls: false}\nsteps:\n" +
			step("all", `with: {label: "{{ if .tls }}{{ .cert }}{{ end }}"}`)},
		"a field inside range is the element's": {site: "vars: {users: [{name: a}]}\nsteps:\n" +
			step("all", `with: {label: "{{ range .users }}{{ .name }}{{ end }}"}`)},
		"registered earlier, read in until": {site: "steps:\n  - {name: r, hosts: all, task: t_record, with: {label: x}, register: out}\n" +
			step("all", `with: {label: "{{ .out.value }}"}, register: again, until: "eq .again.value .result.value"`)},
		"builtins and facts": {site: "steps:\n" +
			step("all", `with: {label: "{{ .host.name }} {{ .facts.os.family }} {{ .check_mode }} {{ len .groups }} {{ .hostvars }}"}`)},
		"runbook vars that read the host do not stop a hosts template": {
			site: "vars: {motd: \"{{ .host.name }}\", target: web}\nsteps:\n" + step(`"{{ .target }}:!db"`, `with: {label: "{{ .motd }}"}`)},
		"-e gives what the runbook needs": {site: "steps:\n" + step(`"{{ .target }}"`, `with: {label: "{{ .version }}"}`),
			extra: "{target: web, version: 1}"},
		"a step on the controller may add hosts, and variables, for later steps": {site: "steps:\n" +
			"  - {name: provision, hosts: local, task: t_record, with: {label: x}}\n" + step("newhost", `with: {label: "{{ .new_host_var }}"}`)},
		"handlers see what their steps registered": {site: "steps:\n  - {name: r, hosts: web, task: t_record, with: {label: x}, register: out, notify: h}\n" +
			"handlers:\n  - {name: h, task: t_record, with: {label: \"{{ .out.value }}\"}}\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			var opts engine.Options
			if tt.extra != "" {
				opts.ExtraVars = mustVars(t, tt.extra)
			}
			if got := check(t, map[string]string{"site.yaml": tt.site}, opts); got != "" {
				t.Error(got)
			}
		})
	}
}

// TestUnmatchedPatternLaterInTheRunStopsIt: a step after one on the
// controller is matched when reached, against the inventory read again.
func TestUnmatchedPatternLaterInTheRunStopsIt(t *testing.T) {
	site := `
steps:
  - {name: provision, hosts: local, task: t_record, with: {label: p, change: true}}
  - {name: typo, hosts: "all:!h9", task: t_record, with: {label: t}}
  - {name: never, hosts: all, task: t_record, with: {label: n}}
`
	_, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(2, "")})
	if err == nil || !strings.Contains(err.Error(), `site.yaml:4:25: hosts: "all:!h9": no host or group "h9"; did you mean "h1"?`) {
		t.Fatalf("err = %v", err)
	}
	if got := c.results(); !cmp.Equal(got, []string{"provision local changed"}) {
		t.Errorf("results = %v", got)
	}
	// In check mode the provisioning step only would have run: the host
	// may exist once it has, so that is a warning.
	_, c, err = run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(2, ""), opts: engine.Options{Check: true}})
	if err != nil {
		t.Fatal(err)
	}
	var warned bool
	for _, ev := range c.events {
		warned = warned || ev.Type == engine.Warning && strings.Contains(ev.Message, `no host or group "h9"`)
	}
	if !warned {
		t.Errorf("no warning in check mode: %+v", c.events)
	}
}
