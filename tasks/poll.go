package tasks

import (
	"context"
	"errors"
	"time"
)

// ErrGaveUp is what Poll returns when the time ran out.
var ErrGaveUp = errors.New("gave up waiting")

// Poll calls try every interval until it reports done, try fails, ctx
// ends, or timeout has passed (then ErrGaveUp). It returns how long it
// waited and what try last said was still missing, for messages.
func Poll(ctx context.Context, timeout, interval time.Duration, try func(ctx context.Context) (done bool, missing string, err error)) (time.Duration, string, error) {
	start := time.Now()
	for {
		done, missing, err := try(ctx)
		waited := time.Since(start)
		switch {
		case err != nil:
			return waited, missing, err
		case done:
			return waited, "", nil
		case waited+interval > timeout:
			return waited, missing, ErrGaveUp
		}
		select {
		case <-ctx.Done():
			return time.Since(start), missing, ctx.Err()
		case <-time.After(interval):
		}
	}
}
