package engine_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/runbookdev/runbook/tasks"
)

// Test-only modules. They exercise the engine's policies; the hosts they
// run on are real (local connections), and the modules that act on hosts
// are tested against real sshd elsewhere.

// journal records what modules saw, in order.
type journal struct {
	mu       sync.Mutex
	entries  []string
	inflight int
	maxIn    int
	attempts map[string]int
	barriers map[string]*barrier
}

var log = &journal{}

func (j *journal) reset() {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries, j.inflight, j.maxIn = nil, 0, 0
	j.attempts, j.barriers = map[string]int{}, map[string]*barrier{}
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, s)
}

func (j *journal) list() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return slices.Clone(j.entries)
}

type barrier struct {
	n       int
	arrived int
	all     chan struct{}
}

func init() {
	reg := func(name string, New func() tasks.Task) {
		tasks.Register(tasks.Module{Name: name, Doc: "test module", New: New})
	}
	reg("t_record", func() tasks.Task { return new(record) })
	reg("t_barrier", func() tasks.Task { return new(barrierTask) })
	reg("t_flaky", func() tasks.Task { return new(flaky) })
	reg("t_sleep", func() tasks.Task { return new(sleep) })
	reg("t_panic", func() tasks.Task { return new(panicky) })
	reg("t_needs", func() tasks.Task { return new(needs) })
	reg("t_done", func() tasks.Task { return new(done) })
}

// record logs "<label> <host>" and reports a change when change is set.
type record struct {
	Label  string   `yaml:"label"`
	Change bool     `yaml:"change"`
	FailOn []string `yaml:"fail_on"`
	Value  string   `yaml:"value"`
}

func (r *record) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	log.mu.Lock()
	log.inflight++
	log.maxIn = max(log.maxIn, log.inflight)
	log.mu.Unlock()
	log.add("start " + r.Label + " " + h.Name)
	time.Sleep(5 * time.Millisecond) // widen the window in which batches could overlap
	log.mu.Lock()
	log.inflight--
	log.mu.Unlock()
	log.add("end " + r.Label + " " + h.Name)
	if slices.Contains(r.FailOn, h.Name) {
		return nil, fmt.Errorf("%s fails on %s", r.Label, h.Name)
	}
	c := &tasks.Change{Result: map[string]any{"value": r.Value}}
	if r.Change {
		c.Summary = []string{"~ " + r.Label}
		c.Apply = func(context.Context) (tasks.Done, error) {
			log.add("apply " + r.Label + " " + h.Name)
			return tasks.Done{Result: map[string]any{"value": r.Value}}, nil
		}
	}
	return c, nil
}

// barrierTask returns only once n hosts are inside it at the same time, or
// fails after 10s: it proves the engine runs hosts in parallel.
type barrierTask struct {
	N int `yaml:"n"`
}

func (b *barrierTask) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	log.mu.Lock()
	br, ok := log.barriers["b"]
	if !ok {
		br = &barrier{n: b.N, all: make(chan struct{})}
		log.barriers["b"] = br
	}
	br.arrived++
	if br.arrived == br.n {
		close(br.all)
	}
	log.mu.Unlock()
	select {
	case <-br.all:
		return tasks.NoChange(), nil
	case <-time.After(10 * time.Second):
		return nil, errors.New("the other hosts never arrived: hosts are not run in parallel")
	}
}

// flaky fails its first Failures attempts on each host.
type flaky struct {
	Failures int `yaml:"failures"`
}

func (f *flaky) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	log.mu.Lock()
	log.attempts[h.Name]++
	n := log.attempts[h.Name]
	log.mu.Unlock()
	if n <= f.Failures {
		return nil, fmt.Errorf("attempt %d fails", n)
	}
	return &tasks.Change{Result: map[string]any{"attempt": n}}, nil
}

// sleep waits, honouring ctx.
type sleep struct {
	For time.Duration `yaml:"for"`
}

func (s *sleep) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	log.add("sleep " + h.Name)
	select {
	case <-time.After(s.For):
		return tasks.NoChange(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// panicky panics with msg, or "boom".
type panicky struct {
	Msg string `yaml:"msg"`
}

func (p panicky) Check(context.Context, *tasks.Host) (*tasks.Change, error) {
	panic(cmp.Or(p.Msg, "boom"))
}

// needs fails unless an earlier step really ran: in check mode it stands
// for a module that cannot inspect what an earlier step would create, and
// says so. With broken set, it stands for a mistake of the runbook's own.
type needs struct {
	Broken bool `yaml:"broken"`
}

func (n needs) Check(context.Context, *tasks.Host) (*tasks.Change, error) {
	if n.Broken {
		return nil, errors.New("template source: open app.tmp: no such file")
	}
	return nil, tasks.DependsOnEarlier(errors.New("/opt/app does not exist"))
}

// done says in Check that it will act, and reports from Apply what it did
// (did), or nothing beyond what Check said when did is empty.
type done struct {
	Did string `yaml:"did"`
}

func (d *done) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	c := &tasks.Change{Summary: []string{"~ will act"}, Result: map[string]any{"did": "nothing yet"}}
	c.Apply = func(context.Context) (tasks.Done, error) {
		if d.Did == "" {
			return tasks.Done{Result: map[string]any{"did": "as checked"}}, nil
		}
		return tasks.Done{Summary: []string{d.Did}, Result: map[string]any{"did": d.Did}}, nil
	}
	return c, nil
}
