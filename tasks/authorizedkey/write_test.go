package authorizedkey

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/transport"
)

// A connection lost while the new content streams in ends its input
// early, as if that were all: the file must keep its old content, not a
// part of the new one.
func TestWriteScriptRefusesShortContent(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "authorized_keys")
	if err := os.WriteFile(file, []byte("old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := script(writeScript, dir, file, "0600", "0", "10")
	res, err := transport.Local{}.Run(context.Background(), cmd, strings.NewReader("new\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() {
		t.Error("the write of 4 bytes of 10 succeeded")
	}
	if got, _ := os.ReadFile(file); string(got) != "old\n" {
		t.Errorf("the file now holds %q", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}
