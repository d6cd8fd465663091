package runbook_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/internal/runbook"
)

func writeRunbook(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// become_method, like become_user, asks to become; a block's reaches the
// steps that name none.
func TestBecomeMethod(t *testing.T) {
	rb, err := runbook.Load(writeRunbook(t, `hosts: all
steps:
  - {name: su, task: command, become_method: su, with: {cmd: x}}
  - {name: plain, task: command, with: {cmd: x}}
  - become: true
    become_method: doas
    block:
      - {name: inherits, task: command, with: {cmd: x}}
      - {name: own, task: command, become_method: sudo, with: {cmd: x}}
      - {name: user, task: command, become_user: app, with: {cmd: x}}
`))
	if err != nil {
		t.Fatal(err)
	}
	type become struct {
		On           bool
		User, Method string
	}
	got := map[string]become{}
	for _, st := range append(rb.Steps[:2:2], rb.Steps[2].Block...) {
		got[st.Name] = become{st.Become, st.BecomeUser, st.BecomeMethod}
	}
	want := map[string]become{
		"su": {true, "", "su"}, "plain": {},
		"inherits": {true, "", "doas"}, "own": {true, "", "sudo"}, "user": {true, "app", "doas"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestBecomeMethodErrors(t *testing.T) {
	p := writeRunbook(t, `hosts: all
steps:
  - {task: command, become_method: runas, with: {cmd: x}}
  - {import: other.yaml, become_method: su}
`)
	_, err := runbook.Load(p)
	if err == nil {
		t.Fatal("loaded")
	}
	for _, want := range []string{
		p + `:3:36: become_method must be sudo, su or doas (runbook becomes no other way), got "runas"`,
		`"become_method"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error:\n%v\nwant it to contain %s", err, want)
		}
	}
}
