package transport

import (
	"testing"
	"time"
)

// SetKillGrace shortens the grace period between SIGTERM and SIGKILL for
// the test.
func SetKillGrace(t *testing.T, d time.Duration) {
	old := killGrace
	killGrace = d
	t.Cleanup(func() { killGrace = old })
}
