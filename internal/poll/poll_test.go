package poll_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/poll"
)

func TestUntilDone(t *testing.T) {
	tries := 0
	_, missing, err := poll.Until(context.Background(), poll.Forever, time.Millisecond, func(context.Context) (bool, string, error) {
		tries++
		return tries == 3, fmt.Sprintf("try %d", tries), nil
	})
	if err != nil || missing != "" || tries != 3 {
		t.Errorf("Until = %q, %v after %d tries; want done after 3", missing, err, tries)
	}
}

func TestUntilGivesUpWithTheLastMissing(t *testing.T) {
	tries := 0
	_, missing, err := poll.Until(context.Background(), 500*time.Millisecond, time.Millisecond, func(context.Context) (bool, string, error) {
		tries++
		return false, fmt.Sprintf("try %d", tries), nil
	})
	if !errors.Is(err, poll.ErrGaveUp) {
		t.Fatalf("err = %v, want ErrGaveUp", err)
	}
	if want := fmt.Sprintf("try %d", tries); missing != want || tries < 2 {
		t.Errorf("missing = %q after %d tries, want %q (the last try's)", missing, tries, want)
	}
}

// A timeout shorter than the interval allows one try: the next would come
// too late.
func TestUntilShortTimeoutTriesOnce(t *testing.T) {
	tries := 0
	_, missing, err := poll.Until(context.Background(), time.Second, time.Hour, func(context.Context) (bool, string, error) {
		tries++
		return false, "still no", nil
	})
	if !errors.Is(err, poll.ErrGaveUp) || missing != "still no" || tries != 1 {
		t.Errorf("Until = %q, %v after %d tries; want ErrGaveUp, \"still no\" after 1", missing, err, tries)
	}
}

func TestUntilStopsWhenCtxEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tries := 0
	_, missing, err := poll.Until(ctx, poll.Forever, time.Hour, func(ctx context.Context) (bool, string, error) {
		tries++
		cancel() // while an hour's wait for the next try lies ahead
		return false, "not yet", nil
	})
	if !errors.Is(err, context.Canceled) || missing != "not yet" || tries != 1 {
		t.Errorf("Until = %q, %v after %d tries; want context.Canceled, \"not yet\" after 1", missing, err, tries)
	}
}

func TestUntilReturnsTryError(t *testing.T) {
	boom := errors.New("boom")
	tries := 0
	_, missing, err := poll.Until(context.Background(), poll.Forever, time.Millisecond, func(context.Context) (bool, string, error) {
		tries++
		if tries == 2 {
			return false, "broke", boom
		}
		return false, "", nil
	})
	if !errors.Is(err, boom) || missing != "broke" || tries != 2 {
		t.Errorf("Until = %q, %v after %d tries; want boom, \"broke\" after 2", missing, err, tries)
	}
}
