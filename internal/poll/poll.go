// Package poll waits for something that cannot tell when it is ready by
// asking again and again: a task waiting for a port or a cluster, the lab
// and the CLI waiting for a machine or a process.
package poll

import (
	"context"
	"errors"
	"math"
	"time"
)

// ErrGaveUp is what Until returns when the time ran out.
var ErrGaveUp = errors.New("gave up waiting")

// Forever is a timeout that never runs out: Until then waits as long as
// ctx allows.
const Forever = time.Duration(math.MaxInt64)

// Until calls try every interval until it reports done, try fails, ctx
// ends, or timeout has passed (then ErrGaveUp). It gives up rather than
// wait for a try that would come after the timeout. It returns how long it
// waited and what try last said was still missing, for messages.
func Until(ctx context.Context, timeout, interval time.Duration, try func(ctx context.Context) (done bool, missing string, err error)) (time.Duration, string, error) {
	start := time.Now()
	for {
		done, missing, err := try(ctx)
		waited := time.Since(start)
		switch {
		case err != nil:
			return waited, missing, err
		case done:
			return waited, "", nil
		case waited > timeout-interval: // waited+interval > timeout, without overflowing Forever
			return waited, missing, ErrGaveUp
		}
		select {
		case <-ctx.Done():
			return time.Since(start), missing, ctx.Err()
		case <-time.After(interval):
		}
	}
}
