package decode_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/decode/decodetest"
)

// mergeBomb builds a mapping whose every level merges the level below ten
// times: walked naively it costs 10^depth, yet it means {path: x}.
func mergeBomb(depth int) string {
	var b strings.Builder
	b.WriteString("levels:\n  - &m0 {path: x}\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "  - &m%d {<<: [%s]}\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d, ", i-1), 10), ", "))
	}
	return b.String()
}

func TestMergeBomb(t *testing.T) {
	var doc struct {
		Levels []params `yaml:"levels"`
	}
	in := node(t, mergeBomb(9))
	var visits int
	var err error
	decodetest.Within(t, 30*time.Second, func() {
		visits, err = decode.NodeVisits("f.yaml", in, &doc, decode.Options{})
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Levels) != 10 || doc.Levels[9].Path != "x" {
		t.Errorf("decoded %+v", doc.Levels)
	}
	// Each level merges one resolved key ten times, and decodes it once.
	if visits > 500 {
		t.Errorf("%d values visited for a 10-level merge chain: merges are walked again wherever they appear", visits)
	}
}

// tree is a type deep enough to decode what an alias bomb expands to.
type tree struct {
	Name string `yaml:"name"`
	Kids []tree `yaml:"kids"`
}

// aliasBomb is the billion laughs: every level lists the one below ten
// times, so the last anchor stands for 10^depth values.
func aliasBomb(depth int) string {
	var b strings.Builder
	b.WriteString("kids:\n  - &l0 {name: lol}\n")
	for i := 1; i <= depth; i++ {
		fmt.Fprintf(&b, "  - &l%d {kids: [%s]}\n", i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	return b.String()
}

func TestAliasBomb(t *testing.T) {
	in := node(t, aliasBomb(9))
	var doc tree
	var visits int
	var err error
	decodetest.Within(t, 30*time.Second, func() {
		visits, err = decode.NodeVisits("f.yaml", in, &doc, decode.Options{})
	})
	if err == nil {
		t.Fatal("decoded 10^9 values without error")
	}
	// Reported once, at the alias whose expansion ran out of budget.
	want := "f.yaml:7:32: *l4 and the aliases before it expand to more than 100000 values"
	if got := err.Error(); !strings.HasPrefix(got, want) || strings.Count(got, "\n") > 0 {
		t.Errorf("got %q, want one error starting %q", got, want)
	}
	if visits > 2*decode.MaxAliasValues {
		t.Errorf("%d values visited, budget is %d", visits, decode.MaxAliasValues)
	}
}

func TestAliasesWithinBudget(t *testing.T) {
	// An anchor used by many entries, as inventories use defaults.
	var b strings.Builder
	b.WriteString("kids:\n  - &d {name: defaults, kids: [{name: a}, {name: b}]}\n")
	for range 1000 {
		b.WriteString("  - {<<: *d, name: h}\n  - *d\n")
	}
	var doc tree
	if err := decode.Node("f.yaml", node(t, b.String()), &doc, decode.Options{}); err != nil {
		t.Fatal(err)
	}
	if len(doc.Kids) != 2001 || len(doc.Kids[2000].Kids) != 2 {
		t.Errorf("decoded %d entries", len(doc.Kids))
	}
}
