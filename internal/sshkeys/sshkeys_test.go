package sshkeys_test

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/runbookdev/runbook/internal/sshkeys"
)

func TestDefaults(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	want := []string{filepath.Join(home, ".ssh/id_ed25519"), filepath.Join(home, ".ssh/id_ecdsa"), filepath.Join(home, ".ssh/id_rsa")}
	if got := sshkeys.Defaults(); !slices.Equal(got, want) {
		t.Errorf("Defaults() = %q, want %q", got, want)
	}
}
