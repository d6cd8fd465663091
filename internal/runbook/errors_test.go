package runbook_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/runbook"
)

// A load error says where it happened and keeps its cause for callers.
func TestLoadErrorKeepsItsCause(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "site.yaml")
	if err := os.WriteFile(site, []byte("steps:\n  - import: gone.yaml\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runbook.Load(site)
	if err == nil || !strings.Contains(err.Error(), site+":2:") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load = %v; want an error at %s:2 for which errors.Is(err, fs.ErrNotExist)", err, site)
	}
}
