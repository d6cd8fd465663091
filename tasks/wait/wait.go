// Package wait is the `wait` task: until a TCP port is open or closed (or
// answers with a banner that matches), an HTTP endpoint answers with a
// status, a file exists, is gone or holds a match, or a command succeeds.
package wait

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/poll"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{
		Name: "wait",
		Doc: "Waits, probing from the host, until a TCP port is open (or closed), an HTTP endpoint answers with a status, " +
			"a file exists (or, with state: absent, is gone), or a command exits 0; fails after timeout. " +
			"With search_regex, a file's content, or the banner a port sends when connected to (from the host), must also match. Reports ok when the condition already holds, else changed with how long it waited; " +
			"in check mode a condition that does not hold yet is reported as would change. Port probes use bash, HTTP probes curl.",
		New: func() tasks.Task { return new(Wait) },
	})
}

// Wait is the `wait` task's parameters.
type Wait struct {
	Port     int           `yaml:"port" doc:"TCP port to probe"`
	Address  string        `yaml:"address" doc:"address the port is probed on, from the host; default 127.0.0.1"`
	State    string        `yaml:"state" doc:"for port: open (default) or closed; for path: present (default) or absent"`
	URL      string        `yaml:"url" doc:"HTTP(S) URL to get from the host"`
	Status   int           `yaml:"status" doc:"for url: the status wanted; default 200"`
	Path     string        `yaml:"path" doc:"absolute path on the host of a file to wait for (or, with state: absent, to be gone)"`
	Search   string        `yaml:"search_regex" doc:"with path: wait until the file's content matches this Go regular expression (RE2; (?m) for ^ and $ at each line); with port: until the banner read from the port within 2s matches it"`
	Cmd      string        `yaml:"cmd" doc:"command that must exit 0"`
	Timeout  time.Duration `yaml:"timeout" doc:"how long to wait at most; default 60s"`
	Interval time.Duration `yaml:"interval" doc:"time between probes; default 1s"`

	re *regexp.Regexp // Search, compiled
}

// Provision compiles search_regex.
func (w *Wait) Provision() error {
	if w.Search == "" {
		return nil
	}
	re, err := regexp.Compile(w.Search)
	if err != nil {
		return fmt.Errorf("search_regex %s: %w", decode.Quote(w.Search), err)
	}
	w.re = re
	return nil
}

// Validate checks that exactly one condition is given.
func (w *Wait) Validate() error {
	n := 0
	for _, set := range []bool{w.Port != 0, w.URL != "", w.Cmd != "", w.Path != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("give exactly one of port, url, path or cmd")
	}
	if w.Port < 0 || w.Port > 65535 {
		return fmt.Errorf("port %d is out of range", w.Port)
	}
	switch {
	case w.Path != "":
		if !path.IsAbs(w.Path) {
			return fmt.Errorf("path %s must be absolute", decode.Quote(w.Path))
		}
		if w.State != "" && w.State != "present" && w.State != "absent" {
			return fmt.Errorf("state: with path, present or absent, got %s", decode.Quote(w.State))
		}
	case w.Port != 0:
		if w.State != "" && w.State != "open" && w.State != "closed" {
			return fmt.Errorf("state must be open or closed, got %s", decode.Quote(w.State))
		}
	case w.State != "":
		return errors.New("state is for port (open or closed) and path (present or absent)")
	}
	if w.Search != "" {
		if w.Port == 0 && w.Path == "" {
			return errors.New("search_regex is for path (the file's content) or port (its banner)")
		}
		if w.State == "closed" || w.State == "absent" {
			return fmt.Errorf("search_regex needs something to read: it cannot go with state: %s", w.State)
		}
	}
	if w.Timeout < 0 || w.Interval < 0 {
		return errors.New("timeout and interval must not be negative")
	}
	return nil
}

func (w *Wait) what() string {
	switch {
	case w.Path != "" && w.State == "absent":
		return fmt.Sprintf("%s to be gone", w.Path)
	case w.Path != "" && w.Search != "":
		return fmt.Sprintf("%s to match %s", w.Path, decode.Quote(w.Search))
	case w.Path != "":
		return fmt.Sprintf("%s to exist", w.Path)
	case w.Port != 0 && w.Search != "":
		return fmt.Sprintf("port %s:%d to answer with a banner that matches %s", w.address(), w.Port, decode.Quote(w.Search))
	case w.Port != 0 && w.State == "closed":
		return fmt.Sprintf("port %s:%d to close", w.address(), w.Port)
	case w.Port != 0:
		return fmt.Sprintf("port %s:%d to open", w.address(), w.Port)
	case w.URL != "":
		return fmt.Sprintf("%s to answer %d", w.URL, w.status())
	}
	return fmt.Sprintf("%q to succeed", w.Cmd)
}

func (w *Wait) address() string {
	if w.Address == "" {
		return "127.0.0.1"
	}
	return w.Address
}

func (w *Wait) status() int {
	if w.Status == 0 {
		return 200
	}
	return w.Status
}

// probe is one command that exits 0 when the condition holds.
func (w *Wait) probe() string {
	switch {
	case w.Path != "" && w.State == "absent":
		return "! [ -e " + tasks.Quote(w.Path) + " ] && ! [ -L " + tasks.Quote(w.Path) + " ]"
	case w.Path != "":
		return "[ -e " + tasks.Quote(w.Path) + " ]"
	case w.Port != 0:
		open := fmt.Sprintf("timeout 2 bash -c %s", tasks.Quote(fmt.Sprintf("</dev/tcp/%s/%d", w.address(), w.Port)))
		if w.State == "closed" {
			return "! " + open + " 2>/dev/null"
		}
		return open + " 2>/dev/null"
	case w.URL != "":
		return fmt.Sprintf(`code=$(curl -sk -o /dev/null -w '%%{http_code}' --max-time 5 %s); echo "HTTP $code"; [ "$code" = %d ]`, tasks.Quote(w.URL), w.status())
	}
	return w.Cmd
}

// Check probes once.
func (w *Wait) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	ok, _, err := w.try(ctx, h)
	if err != nil {
		return nil, err
	}
	if ok {
		return tasks.NoChange(), nil
	}
	timeout := w.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	interval := w.Interval
	if interval == 0 {
		interval = time.Second
	}
	c := &tasks.Change{Summary: []string{fmt.Sprintf("wait for %s (up to %s)", w.what(), timeout)}}
	c.Apply = func(ctx context.Context) (tasks.Done, error) {
		waited, last, err := poll.Until(ctx, timeout, interval, func(ctx context.Context) (bool, string, error) { return w.try(ctx, h) })
		waited = waited.Round(10 * time.Millisecond)
		if errors.Is(err, poll.ErrGaveUp) {
			return tasks.Done{}, fmt.Errorf("gave up waiting for %s after %s%s", w.what(), waited, last)
		}
		if err != nil {
			return tasks.Done{}, err
		}
		return tasks.Done{
			Summary: []string{fmt.Sprintf("waited %s for %s", waited, w.what())},
			Result:  map[string]any{"waited_ms": waited.Milliseconds()},
		}, nil
	}
	return c, nil
}

// try probes once; last describes a failed probe's output.
func (w *Wait) try(ctx context.Context, h *tasks.Host) (bool, string, error) {
	switch {
	case w.Search != "" && w.Path != "":
		return w.fileMatches(ctx, h)
	case w.Search != "":
		return w.bannerMatches(ctx, h)
	}
	res, err := h.Conn.Run(ctx, w.probe(), nil)
	if err != nil {
		return false, "", fmt.Errorf("probe %s: %w", w.what(), err)
	}
	if res.OK() {
		return true, "", nil
	}
	out := strings.TrimSpace(string(res.Stdout) + " " + string(res.Stderr))
	if out == "" {
		return false, "", nil
	}
	return false, ": " + out, nil
}
