package runbook_test

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/runbook"
	_ "github.com/runbookdev/runbook/tasks/all"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestGood(t *testing.T) {
	files, _ := filepath.Glob("testdata/good/*.yaml")
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			rb, err := runbook.Load(f)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".golden", dump(rb, ""))
		})
	}
}

func TestBad(t *testing.T) {
	files, _ := filepath.Glob("testdata/bad/*.yaml")
	for _, f := range files {
		if strings.HasPrefix(filepath.Base(f), "cycle_b") {
			continue // reached through cycle_a
		}
		t.Run(filepath.Base(f), func(t *testing.T) {
			_, err := runbook.Load(f)
			if err == nil {
				t.Fatal("loaded without error")
			}
			golden(t, strings.TrimSuffix(f, ".yaml")+".err", err.Error()+"\n")
		})
	}
}

// dump shows what a runbook was read as.
func dump(rb *runbook.Runbook, indent string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%srunbook %q (%s)\n", indent, rb.Name, rb.File)
	for _, k := range slices.Sorted(maps.Keys(rb.Vars)) {
		v := rb.Vars[k]
		fmt.Fprintf(&b, "%s  var %s = %#v secret=%v at %s\n", indent, k, v.Value, v.Secret, v.Pos)
	}
	for _, s := range rb.Steps {
		b.WriteString(dumpStep(s, indent+"  ", "step"))
	}
	for _, s := range rb.Handlers {
		b.WriteString(dumpStep(s, indent+"  ", "handler"))
	}
	return b.String()
}

func dumpStep(s *runbook.Step, indent, kind string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s%s %q at %s tags=%v when=%q\n", indent, kind, s.Title(), s.Pos, s.Tags, s.When)
	if s.Import != nil {
		for _, k := range slices.Sorted(maps.Keys(s.ImportVars)) {
			fmt.Fprintf(&b, "%s  import var %s = %#v\n", indent, k, s.ImportVars[k].Value)
		}
		if g := s.Group; g != nil {
			fmt.Fprintf(&b, "%s  group hosts=%q serial=%v max_fail=%v order=%q any_errors_fatal=%v throttle=%d\n",
				indent, g.Hosts, g.Serial, deref(g.MaxFail), g.Order, g.AnyErrorsFatal, g.Throttle)
		}
		b.WriteString(dump(s.Import, indent+"  "))
		return b.String()
	}
	if g := s.Group; g != nil {
		fmt.Fprintf(&b, "%s  group hosts=%q serial=%v max_fail=%v order=%q any_errors_fatal=%v throttle=%d\n",
			indent, g.Hosts, g.Serial, deref(g.MaxFail), g.Order, g.AnyErrorsFatal, g.Throttle)
	}
	if s.IsBlock() {
		for _, k := range slices.Sorted(maps.Keys(s.BlockVars)) {
			fmt.Fprintf(&b, "%s  block var %s = %#v\n", indent, k, s.BlockVars[k].Value)
		}
		for _, part := range []struct {
			name  string
			steps []*runbook.Step
		}{{"block", s.Block}, {"rescue", s.Rescue}, {"always", s.Always}} {
			for _, st := range part.steps {
				b.WriteString(dumpStep(st, indent+"  ", part.name))
			}
		}
		return b.String()
	}
	with, _ := yaml.Marshal(s.With)
	fmt.Fprintf(&b, "%s  task=%s hosts=%q register=%q retries=%d delay=%s until=%q timeout=%s notify=%q serial=%v max_fail=%v become=%v ignore_errors=%v\n",
		indent, s.Module.Name, s.Hosts, s.Register, s.Retries, s.Delay, s.Until, s.Timeout, s.Notify, s.Serial, deref(s.MaxFail), s.Become, s.IgnoreErrors)
	for _, line := range strings.Split(strings.TrimSpace(string(with)), "\n") {
		fmt.Fprintf(&b, "%s  | %s\n", indent, line)
	}
	return b.String()
}

func deref(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprint(*f)
}
