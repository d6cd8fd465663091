package consul

import (
	"errors"
	"strings"

	"github.com/hashicorp/consul/api"
)

// hidden is an error whose text has the task's tokens cut out; what it
// wraps is still there for errors.Is and errors.As.
type hidden struct {
	err  error
	text string
}

func (h hidden) Error() string { return h.text }
func (h hidden) Unwrap() error { return h.err }

// hide replaces every token in err's text with ********. The ACL modules
// quote Consul's answers in their errors, and a token that reached one
// would be printed when the runbook did not mark it !secret: these
// modules do not rely on the mark.
func hide(err error, tokens ...string) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	for _, t := range tokens {
		if t != "" {
			text = strings.ReplaceAll(text, t, "********")
		}
	}
	if text == err.Error() {
		return err
	}
	return hidden{err, text}
}

// statusIs reports whether err is Consul answering code, with a body that
// holds each of words.
func statusIs(err error, code int, words ...string) bool {
	var se api.StatusError
	if !errors.As(err, &se) || se.Code != code {
		return false
	}
	for _, w := range words {
		if !strings.Contains(se.Body, w) {
			return false
		}
	}
	return true
}
