package lab

import (
	"fmt"
	"os"
	"strings"
)

// WriteKnownHosts writes the hosts' SSH keys, which the lab generated
// itself, so connecting to them needs no trust on first use.
func WriteKnownHosts(path string, hosts []*Host) error {
	var b strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&b, "%s %s\n", h.Public, h.HostKey)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// WriteInventory writes a static inventory for hosts, logging in as root
// with the lab's key; every host is in the group named after its name
// without its digits (consul00 -> consul) and in the group of its kind.
func (l *Lab) WriteInventory(path string, hosts []*Host) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by runbook lab: %d lab hosts.\ndefaults: {user: root, key: %s}\nhosts:\n", len(hosts), l.KeyFile())
	groups := map[string][]string{}
	var order []string
	for _, h := range hosts {
		fmt.Fprintf(&b, "  %s: {address: %s, vars: {private_ipv4: %s, public_ipv4: %s}}\n", h.Name, h.Public, h.Private, h.Public)
		for _, g := range []string{strings.TrimRight(h.Name, "0123456789-"), h.Kind} {
			if g == "" || g == h.Name {
				continue
			}
			if _, ok := groups[g]; !ok {
				order = append(order, g)
			}
			groups[g] = append(groups[g], h.Name)
		}
	}
	if len(order) > 0 {
		b.WriteString("groups:\n")
		for _, g := range order {
			fmt.Fprintf(&b, "  %s: {hosts: [%s]}\n", g, strings.Join(groups[g], ", "))
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
