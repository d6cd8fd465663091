// Package facts reads what templates know of a host as .facts: hostname,
// OS, CPU architecture, interfaces and addresses.
package facts

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/runbookdev/runbook/tasks"
)

// factsScript prints everything facts are made of, in one command. It
// reads what it can with shell builtins and starts two programs (uname,
// ip): every process started on a host costs, across a fleet.
const factsScript = `if IFS= read -r h </proc/sys/kernel/hostname; then echo "hostname=$h"
else echo "hostname=$(hostname || cat /etc/hostname)"; fi 2>/dev/null
( . /etc/os-release 2>/dev/null; echo "os_id=$ID"; echo "os_version=$VERSION_ID"; echo "os_like=$ID_LIKE"; echo "os_name=$PRETTY_NAME" )
set -- $(uname -rm)
echo "kernel=$1"
echo "arch=$2"
echo "--ip"
ip -j -batch - <<'EOF' 2>/dev/null
addr show
route show default
EOF
echo`

// Gather reads the host's facts: hostname, OS, CPU architecture,
// interfaces with their addresses, and the default route's interface and
// address.
func Gather(ctx context.Context, c tasks.Conn) (map[string]any, error) {
	res, err := c.Run(ctx, factsScript, nil)
	if err != nil {
		return nil, fmt.Errorf("gather facts: %w", err)
	}
	if !res.OK() {
		return nil, fmt.Errorf("gather facts: %s", res.Failure())
	}
	out := string(res.Stdout)
	head, ipJSON, _ := strings.Cut(out, "--ip\n")
	kv := map[string]string{}
	for _, line := range strings.Split(head, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			kv[k] = v
		}
	}
	facts := map[string]any{
		"hostname": kv["hostname"],
		"arch":     kv["arch"],
		"kernel":   kv["kernel"],
		"os": map[string]any{
			"family":  osFamily(kv["os_id"], kv["os_like"]),
			"id":      kv["os_id"],
			"version": kv["os_version"],
			"name":    kv["os_name"],
		},
	}
	var links []struct {
		Name  string `json:"ifname"`
		Addrs []struct {
			Family string `json:"family"`
			Local  string `json:"local"`
			Prefix int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	var routes []struct {
		Dev     string `json:"dev"`
		Gateway string `json:"gateway"`
	}
	// Two JSON arrays one after the other: addresses, then the default
	// route. No ip, or one too old for -j, leaves both empty.
	if s := strings.TrimSpace(ipJSON); s != "" {
		dec := json.NewDecoder(strings.NewReader(s))
		if err := dec.Decode(&links); err != nil {
			return nil, fmt.Errorf("gather facts: read `ip -j addr`: %w", err)
		}
		_ = dec.Decode(&routes)
	}
	ifaces := map[string]any{}
	for _, l := range links {
		v4, v6 := []any{}, []any{}
		for _, a := range l.Addrs {
			switch a.Family {
			case "inet":
				v4 = append(v4, a.Local)
			case "inet6":
				v6 = append(v6, a.Local)
			}
		}
		ifaces[l.Name] = map[string]any{"ipv4": v4, "ipv6": v6}
	}
	facts["interfaces"] = ifaces
	facts["default_interface"], facts["default_ipv4"], facts["default_gateway"] = "", "", ""
	if len(routes) > 0 {
		facts["default_interface"], facts["default_gateway"] = routes[0].Dev, routes[0].Gateway
		if i, ok := ifaces[routes[0].Dev].(map[string]any); ok {
			if v4 := i["ipv4"].([]any); len(v4) > 0 {
				facts["default_ipv4"] = v4[0]
			}
		}
	}
	return facts, nil
}

func osFamily(id, like string) string {
	words := strings.Fields(id + " " + like)
	for _, w := range words {
		switch w {
		case "debian", "ubuntu":
			return "debian"
		case "rhel", "fedora", "centos", "rocky", "almalinux":
			return "redhat"
		}
	}
	return id
}
