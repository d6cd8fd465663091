package systemd

import (
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	"gopkg.in/yaml.v3"
)

// Parameters that cannot work together are refused before any host is
// contacted, with what to write instead.
func TestValidateRefuses(t *testing.T) {
	for _, tc := range []struct{ with, want string }{
		{`{name: rb-echo@, state: started}`, "give state to one of its instances, e.g. name: rb-echo@one"},
		{`{name: rb-echo@.service, state: stopped}`, "rb-echo@.service is a template unit"},
		{`{name: a, masked: true, content: "[Service]"}`, "cannot be masked in the same step"},
		{`{name: a, masked: true, src: a.service}`, "cannot be masked in the same step"},
		{`{name: a, src: a.service, content: "[Service]"}`, "src and content are two ways to give the unit file: keep one"},
		{`{name: a, masked: true, state: started}`, "a masked unit cannot be started"},
		{`{name: a, masked: true, state: restarted}`, "a masked unit cannot be restarted"},
		{`{name: a, masked: true, enabled: true}`, "a masked unit cannot be enabled"},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tc.with), &doc); err != nil {
			t.Fatal(err)
		}
		s := new(Systemd)
		if err := decode.Node("test.yaml", doc.Content[0], s, decode.Options{}); err != nil {
			t.Fatalf("%s: %v", tc.with, err)
		}
		err := tasks.Prepare(s)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error saying %q", tc.with, err, tc.want)
		}
	}
}

// A name without a unit type is a service, as systemctl takes it, even
// with a dot in its instance (openvpn@client.conf).
func TestUnitName(t *testing.T) {
	for _, tc := range []struct{ name, unit string }{
		{"consul", "consul.service"},
		{"consul.service", "consul.service"},
		{"fstrim.timer", "fstrim.timer"},
		{"getty@tty2", "getty@tty2.service"},
		{"getty@", "getty@.service"},
		{"openvpn@client.conf", "openvpn@client.conf.service"},
		{"vpn.conf@.socket", "vpn.conf@.socket"},
	} {
		if got := (&Systemd{Name: tc.name}).unit(); got != tc.unit {
			t.Errorf("%s: unit %s, want %s", tc.name, got, tc.unit)
		}
	}
	for name, template := range map[string]bool{"getty@": true, "getty@.service": true, "getty@tty2": false, "openvpn@client.conf": false, "a@.b@": true, "consul": false} {
		if got := (&Systemd{Name: name}).template(); got != template {
			t.Errorf("%s: template() = %v, want %v", name, got, template)
		}
	}
}
