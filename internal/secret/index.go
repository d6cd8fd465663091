package secret

import (
	"slices"
	"strings"
)

// index finds where the strings of a Set occur in a text, all of them,
// overlapping or not. Strings are bucketed by their first MinLen bytes
// and, past longKey bytes, by their first longKey: a text is scanned once,
// with a lookup or two per byte, whatever the number of strings. Adding a
// string costs no rebuild, which matters because a run keeps adding what
// it renders from secrets (a host's whole configuration file) while it
// reports.
type index struct {
	buckets map[string]*bucket // by first MinLen bytes
}

// longKey is the prefix that strings this long or longer are looked up by.
const longKey = 16

type bucket struct {
	short []string            // shorter than longKey, longest first
	long  map[string][]string // by first longKey bytes, longest first
}

func (x *index) add(s string) {
	if x.buckets == nil {
		x.buckets = map[string]*bucket{}
	}
	b := x.buckets[s[:MinLen]]
	if b == nil {
		b = &bucket{}
		x.buckets[s[:MinLen]] = b
	}
	if len(s) < longKey {
		b.short = insertLongestFirst(b.short, s)
		return
	}
	if b.long == nil {
		b.long = map[string][]string{}
	}
	b.long[s[:longKey]] = insertLongestFirst(b.long[s[:longKey]], s)
}

func insertLongestFirst(list []string, s string) []string {
	i, _ := slices.BinarySearchFunc(list, len(s), func(e string, n int) int { return n - len(e) })
	return slices.Insert(list, i, s)
}

// longest is the length of the longest string of the bucket that t
// starts with, or 0.
func (b *bucket) longest(t string) int {
	if len(t) >= longKey {
		for _, s := range b.long[t[:longKey]] {
			if strings.HasPrefix(t, s) {
				return len(s) // longer than any short one
			}
		}
	}
	for _, s := range b.short {
		if strings.HasPrefix(t, s) {
			return len(s)
		}
	}
	return 0
}

// spans calls fn with each stretch of text covered by strings of the
// index, overlapping ones merged, in order, until fn returns false.
func (x *index) spans(text string, fn func(start, end int) bool) {
	if len(x.buckets) == 0 {
		return
	}
	start, end := -1, -1
	for i := 0; i+MinLen <= len(text); i++ {
		b := x.buckets[text[i:i+MinLen]]
		if b == nil {
			continue
		}
		n := b.longest(text[i:])
		switch {
		case n == 0:
		case i < end:
			end = max(end, i+n)
		default:
			if start >= 0 && !fn(start, end) {
				return
			}
			start, end = i, i+n
		}
	}
	if start >= 0 {
		fn(start, end)
	}
}
