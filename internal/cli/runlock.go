package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"time"

	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/internal/runlock"
	"github.com/runbookdev/runbook/inventory"
)

// lockTimeout is --lock-timeout: unset, a run waits for the run lock as
// long as it takes.
type lockTimeout struct {
	set bool
	d   time.Duration
}

func (l *lockTimeout) String() string {
	if l == nil || !l.set {
		return ""
	}
	return l.d.String()
}

func (l *lockTimeout) Type() string { return "duration" }

func (l *lockTimeout) Set(v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return err
	}
	if d < 0 {
		return errors.New("want 0 or more")
	}
	l.set, l.d = true, d
	return nil
}

// wait is how long to wait for a lock: negative means as long as it takes.
func (l lockTimeout) wait() time.Duration {
	if !l.set {
		return -1
	}
	return l.d
}

// takeRunLocks takes the run locks the inventories ask for (see
// inventory.RunLock), in the order of their keys so that two runs that
// want the same two cannot each hold one. guard says whether they are
// all still held; release lets go of them. doing says what the run does,
// for whoever waits: "applying /srv/site.yaml".
func takeRunLocks(ctx context.Context, sources inventory.Sources, doing string, timeout lockTimeout, out engine.Reporter) (guard func() error, release func(), err error) {
	specs := sources.RunLocks()
	slices.SortFunc(specs, func(a, b *inventory.RunLock) int {
		return cmp.Or(cmp.Compare(a.Consul.Address, b.Consul.Address), cmp.Compare(a.Consul.Key, b.Consul.Key))
	})
	specs = slices.CompactFunc(specs, func(a, b *inventory.RunLock) bool { return a.Consul == b.Consul })
	var held []*runlock.Held
	release = func() {
		for _, h := range slices.Backward(held) {
			h.Release()
		}
	}
	me := holder(doing)
	for _, spec := range specs {
		say := func(msg string) {
			if out != nil {
				out.Report(engine.Event{Type: engine.Progress, Time: time.Now(), Message: msg})
			}
		}
		h, err := runlock.Acquire(ctx, spec, me, timeout.wait(), say)
		if err != nil {
			release()
			return nil, nil, err
		}
		held = append(held, h)
	}
	guard = func() error {
		for _, h := range held {
			if err := h.Check(); err != nil {
				return err
			}
		}
		return nil
	}
	return guard, release, nil
}

// holder says who holds a run lock, for whoever waits for it.
func holder(doing string) string {
	name := "?"
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s@%s (pid %d) %s since %s", name, host, os.Getpid(), doing, time.Now().Format(time.RFC3339))
}

// applying is what holder says of a run of runbookFile.
func applying(runbookFile string) string {
	if abs, err := filepath.Abs(runbookFile); err == nil {
		runbookFile = abs
	}
	return "applying " + runbookFile
}
