package decode_test

import (
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/decode/decodetest"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in string
		errs     []string // each a prefix of one error line; none: no error
	}{
		{name: "one document", in: "---\na: 1\n...\n"},
		{name: "empty trailing document", in: "a: 1\n---\n# nothing\n"},
		{name: "second document", in: "a: 1\n---\nb: 2\n", errs: []string{
			"f.yaml:2:1: a second YAML document starts here",
		}},
		{name: "third after empty second", in: "a: 1\n---\n---\nc: 3\n", errs: []string{
			"f.yaml:3:1: a second YAML document starts here",
		}},
		{name: "syntax error in second document", in: "a: 1\n---\n[\n", errs: []string{
			"f.yaml:3: YAML syntax: did not find expected node content",
		}},
		{name: "known tags", in: "a: !secret x\nb: !!str 1\nc: ! x\nd: !<tag:yaml.org,2002:int> 3\ne: !!binary aGk=\nf: !!float 1\ng: !!null ~\nh: !!bool true\ni: !!map {}\nj: !!seq []\nk: !!timestamp 2001-12-14\nl: !secret {x: 1}\n"},
		{name: "unknown tags", in: "a: !vault abc\nb: [!!set {x}]\nc: !Secret x\n", errs: []string{
			`f.yaml:1:4: unknown YAML tag "!vault": runbook knows`,
			`f.yaml:2:5: unknown YAML tag "!!set": runbook knows`,
			`f.yaml:3:4: unknown YAML tag "!Secret"; did you mean "!secret"? runbook knows`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := decode.Parse("f.yaml", []byte(tt.in))
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if doc == nil || len(doc.Content) != 1 {
					t.Fatalf("document %+v", doc)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(tt.errs) > 1 {
				lines = lines[1:] // "N errors:"
			}
			if len(lines) != len(tt.errs) {
				t.Fatalf("got %d errors, want %d:\n%v", len(lines), len(tt.errs), err)
			}
			for i, want := range tt.errs {
				if !strings.HasPrefix(lines[i], want) {
					t.Errorf("error %d: got %q, want it to start %q", i, lines[i], want)
				}
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n"} {
		doc, err := decode.Parse("f.yaml", []byte(in))
		if err != nil || doc == nil || doc.Kind != 0 {
			t.Errorf("Parse(%q) = %+v, %v; want an empty node", in, doc, err)
		}
	}
}

// An alias bomb is refused when read, before any decoding walks it: each
// step or host is decoded on its own, so only the whole file shows that
// aliases multiply.
func TestParseAliasBomb(t *testing.T) {
	var err error
	decodetest.Within(t, 30*time.Second, func() { _, err = decode.Parse("f.yaml", []byte(aliasBomb(30))) })
	if err == nil {
		t.Fatal("no error for 10^30 values")
	}
	want := "f.yaml:7:22: *l4 and the aliases before it expand to more than 100000 values"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("got %q, want it to start %q", err, want)
	}
	// Many small aliases, each harmless, that together multiply the file.
	var b strings.Builder
	b.WriteString("big: &big [" + strings.Repeat("x, ", 2000) + "x]\nuses:\n")
	for range 100 {
		b.WriteString("  - *big\n")
	}
	if _, err := decode.Parse("f.yaml", []byte(b.String())); err == nil || !strings.HasPrefix(err.Error(), "f.yaml:52:5: *big and the aliases before it expand") {
		t.Errorf("100 uses of a 2000-value anchor: %v", err)
	}
}

func TestParseMergeBombIsCheap(t *testing.T) {
	// Merges resolve to the keys they bring, once: 10 levels mean one key.
	var err error
	decodetest.Within(t, 30*time.Second, func() { _, err = decode.Parse("f.yaml", []byte(mergeBomb(30))) })
	if err != nil {
		t.Fatal(err)
	}
}

func TestParseAliasesInProportion(t *testing.T) {
	// A large inventory whose hosts merge shared defaults: aliases add
	// more than the budget in all, but in proportion to the file.
	var b strings.Builder
	b.WriteString("defaults: &d {user: deploy, port: 22, key: k, a: 1, b: 2, c: 3, d: 4, e: 5}\nhosts:\n")
	for i := range 10000 {
		b.WriteString("  h" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + ": {<<: *d}\n")
	}
	if _, err := decode.Parse("f.yaml", []byte(b.String())); err != nil {
		t.Fatal(err)
	}
}
