package metal_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/labapi"
	"github.com/runbookdev/runbook/internal/labtest"
	"github.com/runbookdev/runbook/internal/sshkeys"
	_ "github.com/runbookdev/runbook/inventory/equinixmetal"
	_ "github.com/runbookdev/runbook/tasks/all"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

// world is a lab behind its Metal API, and a controller key that only the
// metal module's registration can get onto new devices.
type world struct {
	t         *testing.T
	srv       *labapi.Server
	dir       string
	inventory string
}

func newWorld(t *testing.T) *world {
	l := labtest.Open(t)
	srv, _ := labtest.API(t, l)
	dir := t.TempDir()
	key := filepath.Join(dir, "id_ed25519")
	if _, err := sshkeys.Generate(key, "controller"); err != nil {
		t.Fatal(err)
	}
	inv := filepath.Join(dir, "metal.yaml")
	os.WriteFile(inv, []byte("plugin: equinix-metal\ntags: [walkthrough]\nkey: id_ed25519\n"), 0o644)
	return &world{t: t, srv: srv, dir: dir, inventory: inv}
}

// provision is the seed's topology, scaled down for the test, followed by
// a step on the devices it provisioned.
func (w *world) runbook() string {
	return fmt.Sprintf(`
vars: {fcs_count: 1, plan: c3.small.x86, prune: false}
steps:
  - name: consul servers
    hosts: local
    task: metal
    with: {hostname: "consul%%02d", count: 2, plan: "{{ .plan }}", metro: sv, operating_system: ubuntu_20_04, tags: [walkthrough, consul], ssh_key: %[1]s/id_ed25519.pub}
  - name: fcs
    hosts: local
    task: metal
    with: {hostname: "fcs%%02d", count: "{{ .fcs_count }}", plan: lab.light, metro: sv, operating_system: ubuntu_20_04, tags: [walkthrough, fcs], ssh_key: %[1]s/id_ed25519.pub, prune: "{{ .prune }}"}
  - name: hello
    hosts: all
    task: command
    with: {cmd: hostname, read_only: true}
`, w.dir)
}

func (w *world) apply(args ...string) tasktest.Run {
	w.t.Helper()
	rb := filepath.Join(w.dir, "provision.yaml")
	os.WriteFile(rb, []byte(w.runbook()), 0o644)
	return labkit.CLI(w.t, append(append([]string{"apply", "-i", w.inventory, "--output", "json"}, args...), rb)...)
}

func TestProvisionScalePruneAndDrift(t *testing.T) {
	w := newWorld(t)

	r := w.apply("--check")
	changes := strings.Join(r.Result("consul servers").Changes, "\n")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(changes, "+ create consul01 (c3.small.x86 in sv, ubuntu_20_04)") ||
		!strings.Contains(changes, "+ register the controller's SSH key") {
		t.Fatalf("first check: %s", r)
	}
	if inv := labkit.CLI(t, "inventory", "-i", w.inventory); strings.Contains(inv.Stdout, "consul") {
		t.Fatalf("check mode created devices:\n%s", inv.Stdout)
	}

	// Provision and configure in one run: the inventory refreshes after
	// the provisioning steps, and the new hosts accept the registered key.
	r = w.apply()
	if r.Exit != 0 {
		t.Fatalf("apply: %s", r)
	}
	if got := r.Hosts("hello"); len(got) != 3 || got["consul00"] != engine.OK || got["fcs00"] != engine.OK {
		t.Fatalf("later step ran on %v: %s", got, r)
	}
	progress := 0
	for _, ev := range r.Events {
		if ev.Type == engine.Progress && strings.Contains(ev.Message, "ready at") {
			progress++
		}
	}
	if progress != 3 {
		t.Errorf("%d devices said they were ready, want 3", progress)
	}
	if r = w.apply("--check"); r.Exit != 0 {
		t.Fatalf("second check: %s", r)
	}

	// The dynamic inventory, grouped by hostname and tags.
	inv := labkit.CLI(t, "inventory", "-i", w.inventory)
	for _, want := range []string{"consul: consul00, consul01", "fcs: fcs00", "walkthrough: consul00, consul01, fcs00", "plan: c3.small.x86"} {
		if !strings.Contains(inv.Stdout, want) {
			t.Errorf("inventory lacks %q:\n%s", want, inv.Stdout)
		}
	}

	// Scale: only the new device is provisioned; the others report ok.
	r = w.apply("-e", "fcs_count=3")
	if r.Exit != 0 || r.Result("consul servers").Status != engine.OK {
		t.Fatalf("scale: %s", r)
	}
	if c := strings.Join(r.Result("fcs").Changes, ";"); c != "+ create fcs01 (lab.light in sv, ubuntu_20_04);+ create fcs02 (lab.light in sv, ubuntu_20_04)" {
		t.Errorf("scale changes: %q", c)
	}
	if got := r.Hosts("hello"); len(got) != 5 {
		t.Errorf("after scaling the step ran on %v", got)
	}

	// Lowering the count leaves the extra devices alone without prune...
	if r = w.apply("--check"); r.Exit != 0 {
		t.Fatalf("count 1 without prune should change nothing: %s", r)
	}
	// ...and deletes them with it.
	r = w.apply("-e", "prune=true", "--check")
	if c := strings.Join(r.Result("fcs").Changes, ";"); r.Exit != tasktest.ExitDrift || c != "- delete fcs01;- delete fcs02" {
		t.Fatalf("prune check %q: %s", c, r)
	}
	if r = w.apply("-e", "prune=true"); r.Exit != 0 {
		t.Fatalf("prune: %s", r)
	}
	if got := r.Hosts("hello"); len(got) != 3 {
		t.Errorf("after pruning the step ran on %v", got)
	}

	// A device with another plan is drift runbook does not make good: a
	// failure, in check mode as in a real run, never recreated.
	for _, mode := range [][]string{{"--check"}, nil} {
		r = w.apply(append([]string{"-e", "plan=m3.small.x86"}, mode...)...)
		if msg := r.Result("consul servers").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "consul00 has plan c3.small.x86, not m3.small.x86: runbook does not replace servers") {
			t.Fatalf("drift %v %q: %s", mode, msg, r)
		}
	}
}

func TestMetalErrorsAndRateLimits(t *testing.T) {
	w := newWorld(t)
	rb := filepath.Join(w.dir, "one.yaml")
	write := func(plan string) {
		os.WriteFile(rb, []byte(fmt.Sprintf("steps:\n  - {name: one, hosts: local, task: metal, with: {hostname: solo, plan: %s, metro: sv, operating_system: debian_12, tags: [walkthrough], ssh_key: %s/id_ed25519.pub}}\n", plan, w.dir)), 0o644)
	}
	write("c9.huge")
	r := labkit.CLI(t, "apply", "--output", "json", rb)
	if msg := r.Result("one").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "plan c9.huge") || !strings.Contains(msg, "422") || !strings.Contains(msg, `Plan "c9.huge" is not valid`) {
		t.Errorf("bad plan: %q", msg)
	}

	// The API says "slow down" twice: the run waits as told and goes on.
	write("lab.light")
	w.srv.RateLimit(2, 1)
	r = labkit.CLI(t, "apply", "--output", "json", "--check", rb)
	if r.Exit != tasktest.ExitDrift {
		t.Fatalf("after 429s: %s", r)
	}

	t.Setenv("METAL_AUTH_TOKEN", "wrong")
	r = labkit.CLI(t, "apply", "--output", "json", "--check", rb)
	if msg := r.Result("one").Message; r.Exit != tasktest.ExitError || !strings.Contains(msg, "refused the token (401") || !strings.Contains(msg, "METAL_AUTH_TOKEN") {
		t.Errorf("bad token: %q", msg)
	}
	r = labkit.CLI(t, "inventory", "-i", w.inventory)
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, "refused the token") {
		t.Errorf("inventory with a bad token: %s", r)
	}
}
