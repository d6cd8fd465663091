package blockinfile_test

import (
	"context"
	"fmt"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/runbookdev/runbook/internal/sshtest"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/blockinfile"
)

// blockinfile reads and writes through the same path as line
// (hostfile.Read, hostfile.PlanAt, hostfile.Edit), which
// tasks/hostfile's and tasks/line's hostile tests cover in full; this
// shows it is the path blockinfile takes. A service user who owns the
// directory of a file that blockinfile edits swaps it for a symlink to a
// root-only file and back while runbook reads it: the root-only content
// must never be read and written back as the user's.
func TestBlockinfileHostileSymlinkSwapDuringRead(t *testing.T) {
	hostile := sshtest.NewHostile(t)
	c := tasktest.Conn(t)
	top := hostile.Dir(t)
	secret := filepath.Join(top, "shadow")
	os.WriteFile(secret, []byte("root only\n"), 0o600)
	app := filepath.Join(top, "app")
	os.Mkdir(app, 0o755)
	hostile.Own(t, app)
	loot := filepath.Join(app, "loot")
	conf := filepath.Join(app, "conf")
	os.WriteFile(conf, []byte("a\n"), 0o644)
	hostile.Own(t, conf)
	hostile.Start(t, fmt.Sprintf(`exec perl -e '
chdir %q or die;
while (1) {
  if (!-l "conf" && open(my $fh, "<", "conf")) { local $/; my $d = <$fh>; if (defined $d && $d =~ /root only/) { open(my $o, ">", %q); print $o $d; close $o; exit 0 } }
  unlink "l"; symlink(%q, "l"); rename("l", "conf");
  open(my $r, ">", "r"); print $r "a\n"; close $r; chmod 0644, "r"; rename("r", "conf");
}'`, app, loot, secret))
	ctx := context.Background()
	h := &tasks.Host{Name: "h1", Conn: c, Log: slog.New(slog.DiscardHandler)}
	applied := 0
	for i := range 300 {
		b := &blockinfile.Block{Path: conf, Block: fmt.Sprint("x", i)}
		if err := tasks.Prepare(b); err != nil {
			t.Fatal(err)
		}
		ch, err := b.Check(ctx, h)
		if err == nil && ch.Apply != nil {
			if _, err := ch.Apply(ctx); err == nil {
				applied++
			}
		}
		if got, err := os.ReadFile(loot); err == nil {
			t.Fatalf("after %d runs the hostile user read the root-only file: %q", i+1, got)
		}
	}
	if applied == 0 {
		t.Fatal("no run got to write the file: the test proved nothing")
	}
}
