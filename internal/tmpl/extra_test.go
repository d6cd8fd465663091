package tmpl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/tmpl"
)

// TestASecretOnTheCommandLineIsRefused: -e arguments are in runbook's own
// argv, which every local user reads in ps, and in shell history; a value
// marked !secret there is refused, and a file is the way.
func TestASecretOnTheCommandLineIsRefused(t *testing.T) {
	for _, arg := range []string{"pw=!secret hunter2-argv", `{"user": "a", "pw": !secret hunter2-argv}`} {
		_, err := tmpl.ParseExtraVars([]string{arg})
		if err == nil || !strings.Contains(err.Error(), "-e @file") || strings.Contains(err.Error(), "hunter2-argv") {
			t.Errorf("-e %s: %v", arg, err)
		}
	}
	file := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(file, []byte("pw: !secret hunter2-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars, err := tmpl.ParseExtraVars([]string{"@" + file, "user=a"})
	if err != nil || !vars["pw"].Secret || vars["user"].Value != "a" {
		t.Errorf("from a file: %v %v", vars, err)
	}
}
