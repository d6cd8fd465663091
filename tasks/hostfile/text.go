package hostfile

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Lines splits text after each newline; the last line lacks one when the
// text does not end with one.
func Lines(text string) []string {
	lines := strings.SplitAfter(text, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// Where is where text that a file does not hold yet goes, given as
// insertafter (a regexp, or EOF) or insertbefore (a regexp, or BOF), placed
// as Ansible's lineinfile and blockinfile place it.
type Where struct {
	after, before *regexp.Regexp
	bof           bool
}

// CompileWhere compiles insertafter and insertbefore ("": not given).
// CheckWhere judges them together.
func CompileWhere(after, before string) (Where, error) {
	var w Where
	var err error
	switch after {
	case "", "EOF":
	default:
		if w.after, err = regexp.Compile(after); err != nil {
			return Where{}, fmt.Errorf("insertafter: %w", err)
		}
	}
	switch before {
	case "":
	case "BOF":
		w.bof = true
	default:
		if w.before, err = regexp.Compile(before); err != nil {
			return Where{}, fmt.Errorf("insertbefore: %w", err)
		}
	}
	return w, nil
}

// CheckWhere judges insertafter and insertbefore: one of them at most,
// and BOF and EOF each where it means something (either elsewhere would
// be taken for a regexp that matches that word).
func CheckWhere(after, before string) error {
	switch {
	case after != "" && before != "":
		return errors.New("give insertafter or insertbefore, not both")
	case after == "BOF":
		return errors.New("insertafter: BOF: to put it at the top of the file, write insertbefore: BOF")
	case before == "EOF":
		return errors.New("insertbefore: EOF: to put it at the end of the file, write insertafter: EOF (the default)")
	}
	return nil
}

// Index is where in lines the new text goes: after (insertafter) or
// before (insertbefore) the last line that matches; at the top for BOF;
// at the end for EOF, when neither is given, or when no line matches.
func (w Where) Index(lines []string) int {
	if w.bof {
		return 0
	}
	re := w.after
	if re == nil {
		re = w.before
	}
	for i := len(lines) - 1; i >= 0 && re != nil; i-- {
		if re.MatchString(strings.TrimSuffix(lines[i], "\n")) {
			if w.after != nil {
				return i + 1
			}
			return i
		}
	}
	return len(lines)
}
