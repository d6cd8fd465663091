package secret_test

import (
	"testing"

	"github.com/runbookdev/runbook/internal/secret"
)

func TestRedact(t *testing.T) {
	var s secret.Set
	s.Add(`pa"ss\word`)
	s.Add("-----BEGIN KEY-----\n  abcdefgh\nxy\n-----END KEY-----\n")
	s.Add(map[string]any{"user": "a", "port": 5432, "tls": true, "list": []any{"long-value", "b"}})
	s.Add("abc") // too short to tell from ordinary text
	for _, tc := range []struct{ in, want string }{
		{`say pa"ss\word`, "say ********"},
		{`"pa\"ss\\word": exit 1`, `"********": exit 1`},
		{"-----BEGIN KEY-----\n  abcdefgh\nxy\n-----END KEY-----\n", "********"},
		{"+  abcdefgh\n-old\n", "+  ********\n-old\n"},
		{"-----END KEY-----", "********"},
		{"a cat at abc: true, xy", "a cat at abc: true, xy"},
		{"port 5432, long-value", "port ********, ********"},
	} {
		if got := s.Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if !s.Holds("x long-value x") || s.Holds("a b c") {
		t.Error("Holds")
	}
	if !s.HoldsAny([]any{1, map[string]any{"k": "long-value"}}) {
		t.Error("HoldsAny misses a nested secret")
	}
	got := s.RedactValue(map[string]any{"u": "long-value!", "n": 1})
	if m := got.(map[string]any); m["u"] != "********!" || m["n"] != 1 {
		t.Errorf("RedactValue = %v", got)
	}
}

func TestEmptySetChangesNothing(t *testing.T) {
	var s *secret.Set
	if s.Redact("x") != "x" || s.Holds("x") {
		t.Error("a nil set hides something")
	}
}

// TestOverlappingSecretsAreHiddenWhole: where two secrets overlap in the
// text, all of both is hidden, whichever comes first.
func TestOverlappingSecretsAreHiddenWhole(t *testing.T) {
	var s secret.Set
	s.Add("abcd-1234")
	s.Add("1234-wxyz")
	s.Add("zz-abcd-12") // within the first one's text, and past its start
	for in, want := range map[string]string{
		"x abcd-1234-wxyz y": "x ******** y",
		"x 1234-wxyz y":      "x ******** y",
		"zz-abcd-1234 !":     "******** !",
		"abcd-1234abcd-1234": "****************", // two, side by side
	} {
		if got := s.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}
