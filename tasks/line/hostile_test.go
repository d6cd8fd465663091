package line_test

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
	"github.com/runbookdev/runbook/tasks/line"
)

// A service user who owns the directory of a file that line edits swaps it
// for a symlink to a root-only file and back while runbook reads it: the
// root-only content must never be read and written back as the user's
// (it was within about 30 runs).
func TestLineHostileSymlinkSwapDuringRead(t *testing.T) {
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
	for i := range 300 {
		l := &line.Line{Path: conf, Line: fmt.Sprint("x", i)}
		if err := l.Validate(); err != nil {
			t.Fatal(err)
		}
		ch, err := l.Check(ctx, h)
		if err == nil && ch.Apply != nil {
			ch.Apply(ctx)
		}
		if got, err := os.ReadFile(loot); err == nil {
			t.Fatalf("after %d runs the hostile user read the root-only file: %q", i+1, got)
		}
	}
}
