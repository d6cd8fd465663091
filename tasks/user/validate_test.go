package user

import (
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"gopkg.in/yaml.v3"
)

// Parameters that cannot work are refused before any host is contacted,
// naming the parameter.
func TestValidateRefuses(t *testing.T) {
	for _, tc := range []struct{ with, want string }{
		{`{name: u, append: true}`, "append goes with groups"},
		{`{name: u, authorized_keys_exclusive: true}`, "authorized_keys_exclusive goes with authorized_keys"},
		{`{name: u, state: absent, authorized_keys: []}`, "go with state: present"},
		{`{name: u, authorized_keys: ["ssh-ed25519 AAAAnotakey u@h"]}`, `authorized_keys[0] "ssh-ed25519 AAAAnotakey u@h" is not one OpenSSH public key line`},
		{`{name: u, authorized_keys: ["nopty ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFx2ZN8Fz9v8bQ4gXGmVhY5m7LdvVdWDN0F0Lw4Z7lQH u@h"]}`, `authorized_keys[0]: options "nopty"`},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tc.with), &doc); err != nil {
			t.Fatal(err)
		}
		u := new(User)
		if err := decode.Node("test.yaml", doc.Content[0], u, decode.Options{}); err != nil {
			t.Fatalf("%s: %v", tc.with, err)
		}
		if err := tasks.Prepare(u); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error saying %q", tc.with, err, tc.want)
		}
	}
}
