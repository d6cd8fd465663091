package stat_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/stat"
)

// A service user who owns the directory of a file that stat hashes swaps
// the file for a symlink to a root-only file and back: the checksum stat
// registers must never be the root-only file's (an oracle for its
// content), nor be given for a file that stat did not describe.
func TestStatHostileSymlinkSwapDuringChecksum(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	c := tasktest.Conn(t)
	top := hostile.Dir(t)
	secret := filepath.Join(top, "shadow")
	must(t, os.WriteFile(secret, []byte("root only\n"), 0o600))
	app := filepath.Join(top, "app")
	must(t, os.Mkdir(app, 0o755))
	hostile.Own(t, app)
	conf := filepath.Join(app, "conf")
	hostile.Start(t, fmt.Sprintf(`cd %s || exit 1
while :; do
  ln -sfn %s l && mv -fT l conf
  echo mine >r && mv -fT r conf
done 2>/dev/null`, tasks.Quote(app), tasks.Quote(secret)))

	sum := sha256.Sum256([]byte("root only\n"))
	secretSum := hex.EncodeToString(sum[:])
	h := &tasks.Host{Name: "h1", Conn: c, Log: slog.New(slog.DiscardHandler)}
	hashed := 0
	for i := range 200 {
		st := &stat.Stat{Path: conf, Checksum: true}
		ch, err := st.Check(context.Background(), h)
		if err != nil {
			continue // it was replaced while being read: right
		}
		got := ch.Result
		if got["sha256"] == secretSum {
			t.Fatalf("after %d runs stat registered the root-only file's checksum: %v", i+1, got)
		}
		if got["sha256"] != nil {
			hashed++
			if got["type"] != "file" || got["uid"] != hostile.UID {
				t.Fatalf("a checksum for what is not the hostile user's file: %v", got)
			}
		}
	}
	if hashed == 0 {
		t.Fatal("no run hashed the file: the test raced nothing")
	}
}
