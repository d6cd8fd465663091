package transport

import (
	"testing"
	"time"
)

// SetSFTPServers replaces where sftp-server is looked for, until the
// returned function puts it back.
func SetSFTPServers(paths []string) (restore func()) {
	old := sftpServers
	sftpServers = paths
	return func() { sftpServers = old }
}

// SetKillGrace shortens the grace period between SIGTERM and SIGKILL for
// the test.
func SetKillGrace(t *testing.T, d time.Duration) {
	old := killGrace
	killGrace = d
	t.Cleanup(func() { killGrace = old })
}

// SetBecomeWait shortens how long a become method may take to ask or
// run, for the test.
func SetBecomeWait(t *testing.T, d time.Duration) {
	old := becomeWait
	becomeWait = d
	t.Cleanup(func() { becomeWait = old })
}
