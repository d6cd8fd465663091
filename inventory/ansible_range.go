package inventory

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
)

// maxExpanded bounds what one host pattern may expand to: web[0:99999999]
// is a typo, not a fleet, and must not fill the controller's memory.
const maxExpanded = 100000

const rangeLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// expandHosts expands Ansible's host ranges, as its inventory plugins do:
// web[01:20].example.com (the width of a zero-padded start is kept),
// db-[a:f], [0:10:2] with a stride, several ranges in one name.
func expandHosts(pattern string) ([]string, error) {
	out, err := expandInto(nil, pattern)
	if err != nil {
		return nil, fmt.Errorf("host range %s: %w", decode.Quote(pattern), err)
	}
	return out, nil
}

func expandInto(out []string, pattern string) ([]string, error) {
	open := strings.IndexByte(pattern, '[')
	if open < 0 {
		if strings.IndexByte(pattern, ']') >= 0 {
			return nil, fmt.Errorf("a ']' without its '[': write ranges as [01:20]")
		}
		return append(out, pattern), nil
	}
	end := strings.IndexByte(pattern[open:], ']')
	if end < 0 {
		return nil, fmt.Errorf("a '[' without its ']': write ranges as [01:20]")
	}
	head, spec, tail := pattern[:open], pattern[open+1:open+end], pattern[open+end+1:]
	seq, err := rangeSeq(spec)
	if err != nil {
		return nil, err
	}
	for _, s := range seq {
		if len(out) >= maxExpanded {
			return nil, fmt.Errorf("expands to more than %d hosts", maxExpanded)
		}
		if out, err = expandInto(out, head+s+tail); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// rangeSeq reads BEGIN:END[:STRIDE].
func rangeSeq(spec string) ([]string, error) {
	q := decode.Quote("[" + spec + "]")
	parts := strings.Split(spec, ":")
	if len(parts) != 2 && len(parts) != 3 {
		return nil, fmt.Errorf("%s: want [BEGIN:END] or [BEGIN:END:STRIDE]", q)
	}
	beg, end, stride := parts[0], parts[1], 1
	if beg == "" {
		beg = "0"
	}
	if end == "" {
		return nil, fmt.Errorf("%s: give the end of the range", q)
	}
	if len(parts) == 3 {
		n, err := strconv.Atoi(parts[2])
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: the stride must be a positive number", q)
		}
		stride = n
	}
	ib, ie := strings.Index(rangeLetters, beg), strings.Index(rangeLetters, end)
	if len(beg) == 1 && len(end) == 1 && ib >= 0 && ie >= 0 {
		if ib > ie {
			return nil, fmt.Errorf("%s: the beginning comes after the end", q)
		}
		var out []string
		for i := ib; i <= ie; i += stride {
			out = append(out, rangeLetters[i:i+1])
		}
		return out, nil
	}
	b, err1 := strconv.Atoi(beg)
	e, err2 := strconv.Atoi(end)
	if err1 != nil || err2 != nil || b < 0 || e < 0 {
		return nil, fmt.Errorf("%s: want numbers ([01:20]) or single letters ([a:f])", q)
	}
	width := 0
	if len(beg) > 1 && beg[0] == '0' {
		if len(beg) != len(end) {
			return nil, fmt.Errorf("%s: a zero-padded range needs a beginning and an end of the same width", q)
		}
		width = len(beg)
	}
	if b > e {
		return nil, fmt.Errorf("%s: the beginning comes after the end", q)
	}
	if (e-b)/stride >= maxExpanded {
		return nil, fmt.Errorf("%s: expands to more than %d hosts", q, maxExpanded)
	}
	var out []string
	for i := b; i <= e; i += stride {
		out = append(out, fmt.Sprintf("%0*d", width, i))
	}
	return out, nil
}
