// The hardened cluster, checked as an operator and as an attacker would:
// what every agent runs with, who the services run as, where the keys
// are, and what a host on the private network can do without the
// cluster's secrets.
package runbooks_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/lab"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/tasks"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

var agents = []string{"consul00", "consul01", "consul02", "fcs00", "fcc00"}

// stored reads a secret the runbooks made, from the test's secrets file;
// kind is the one the runbooks make it of.
func (w *walk) stored(name, kind string) string {
	w.t.Helper()
	v, pending, err := agevars.NewStore(filepath.Join(w.dir, "..", "secrets", "walkthrough.yaml"), true).Secret(name, kind)
	if err != nil || pending {
		w.t.Fatalf("secret %s: not made (%v)", name, err)
	}
	return v
}

// secret is a token the runbooks made.
func (w *walk) secret(name string) string { return w.stored(name, "uuid") }

// tokenFile puts the management token in a root-only file on host (a
// builtin writes it: it is in no process's arguments) and returns its
// path, for CONSUL_HTTP_TOKEN_FILE.
func (w *walk) tokenFile(host string) string {
	w.t.Helper()
	const p = "/root/.runbook-test-token"
	if _, code := w.sh(host, fmt.Sprintf("umask 077; printf %%s %s > %s", w.secret("consul/management"), p)); code != 0 {
		w.t.Fatalf("token file on %s", host)
	}
	return p
}

// tokenHeader is tokenFile as a header file for curl -H @FILE.
func (w *walk) tokenHeader(host string) string {
	w.t.Helper()
	const p = "/root/.runbook-test-token.hdr"
	if _, code := w.sh(host, fmt.Sprintf("umask 077; printf 'X-Consul-Token: %%s\\n' %s > %s", w.secret("consul/management"), p)); code != 0 {
		w.t.Fatalf("token header on %s", host)
	}
	return p
}

// hardened checks what every agent runs with and how the secrets lie on
// the hosts.
func (w *walk) hardened() {
	w.t.Helper()
	for _, h := range agents {
		info, code := w.sh(h, "CONSUL_HTTP_TOKEN_FILE="+w.tokenFile(h)+" consul info")
		if code != 0 || !strings.Contains(info, "encrypted = true") || strings.Contains(info, "encrypted = false") {
			w.t.Errorf("%s: gossip not encrypted: %s", h, info)
		}
		if got, _ := w.sh(h, "curl -s -o /dev/null -w '%{http_code}' 127.0.0.1:8500/v1/agent/self"); got != "403" {
			w.t.Errorf("%s: the agent API answers %s without a token, want 403", h, got)
		}
		if got, _ := w.sh(h, "stat -c '%a %U' /etc/consul.d/consul.hcl"); got != "600 consul" {
			w.t.Errorf("%s: consul.hcl (it holds the agent's token and the gossip key) is %s", h, got)
		}
		// Root writes keys and tokens in there: the consul user must not
		// be able to swap them for symlinks.
		if got, _ := w.sh(h, "stat -c '%a %U:%G' /etc/consul.d /etc/consul.d/tls"); got != "750 root:consul\n750 root:consul" {
			w.t.Errorf("%s: consul's configuration directories are %q, want root's, readable by consul's group", h, got)
		}
		if got, _ := w.sh(h, "grep -c 'disable_update_check = true' /etc/consul.d/consul.hcl"); got != "1" {
			w.t.Errorf("%s: the agent phones home", h)
		}
	}
	for _, h := range []string{"consul00", "consul01", "consul02"} {
		if got, _ := w.sh(h, "stat -c '%a %U' /etc/consul.d/tls/server-key.pem"); got != "600 consul" {
			w.t.Errorf("%s: server key is %s", h, got)
		}
	}
	for _, h := range []string{"fcs00", "fcc00"} {
		if got, code := w.sh(h, "ls /etc/consul.d/tls/"); code != 0 || got != "ca.pem" {
			w.t.Errorf("%s: a client has %q in its TLS directory, want only ca.pem", h, got)
		}
		svc := strings.TrimSuffix(h, "00")
		if got, _ := w.sh(h, "stat -c '%a %U' /etc/consul.d/tokens/"+svc+".token"); got != "600 root" {
			w.t.Errorf("%s: %s's token file is %s", h, svc, got)
		}
		if user, _ := w.sh(h, "ps -o user= -p $(systemctl show -p MainPID --value "+svc+"-sidecar)"); user == "" || user == "root" {
			w.t.Errorf("%s: the %s sidecar runs as %q", h, svc, user)
		}
	}
	if user, _ := w.sh("fcs00", "ps -o user= -p $(systemctl show -p MainPID --value fcs)"); user == "" || user == "root" {
		w.t.Errorf("fcs00: socat runs as %q", user)
	}
}

// gossipNames captures the private network's gossip (8301) on consul00's
// link for a few seconds and returns the agents' names seen in it.
func (w *walk) gossipNames() []string {
	w.t.Helper()
	c00, err := w.lab.Host("consul00")
	if err != nil {
		w.t.Fatal(err)
	}
	pcap := filepath.Join(w.t.TempDir(), "gossip.pcap")
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "tcpdump", "-i", w.lab.PrivateLink(c00), "-Z", "root", "-U", "-s", "0", "-w", pcap, "port 8301").CombinedOutput()
	if ctx.Err() == nil {
		w.t.Fatalf("tcpdump ended early: %v %s", err, out)
	}
	data, err := os.ReadFile(pcap)
	if err != nil {
		w.t.Fatal(err)
	}
	w.lastCapture = fmt.Sprintf("%d bytes of gossip captured on %s", len(data), w.lab.PrivateLink(c00))
	var seen []string
	for _, h := range agents {
		if bytes.Contains(data, []byte(h)) {
			seen = append(seen, h)
		}
	}
	return seen
}

// attacker plays a host on the private network that is not in the
// inventory, with the Consul binary: without the gossip key it cannot
// join; with the key and the CA but no token, the servers refuse it a
// certificate, so it can neither register a service nor get a leaf for
// fcc; and an RPC connection without a client certificate is refused.
func (w *walk) attacker() {
	w.t.Helper()
	ctx := context.Background()
	pub, err := os.ReadFile(w.key + ".pub")
	if err != nil {
		w.t.Fatal(err)
	}
	rogue, err := w.lab.Create(ctx, lab.Spec{Name: "rogue00", Kind: lab.Light, Authorized: []string{string(pub)}})
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { w.lab.Remove(context.Background(), "rogue00") })
	// A pool of its own: the walk's has read the known hosts before the
	// rogue host was made.
	pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{w.lab.KnownHostsFile()}}, KeyFiles: []string{w.key}, Timeout: 10 * time.Second}
	defer pool.Close()
	c, err := pool.Get(ctx, transport.Target{Name: "rogue00", Address: rogue.Public.String(), User: "root"})
	if err != nil {
		w.t.Fatal(err)
	}
	consul, err := os.Open(w.consul)
	if err != nil {
		w.t.Fatal(err)
	}
	defer consul.Close()
	if err := c.WriteFile(ctx, "/usr/local/bin/consul", consul, tasks.FileAttrs{Mode: 0o755, UID: -1, GID: -1, Size: -1}); err != nil {
		w.t.Fatal(err)
	}
	c00, _ := w.lab.Host("consul00")
	ca, _ := w.sh("consul00", "cat /etc/consul.d/tls/ca.pem")
	if err := c.WriteFile(ctx, "/tmp/ca.pem", strings.NewReader(ca+"\n"), tasks.FileAttrs{Mode: 0o644, UID: -1, GID: -1, Size: -1}); err != nil {
		w.t.Fatal(err)
	}
	members := func() string {
		out, _ := w.sh("consul00", "CONSUL_HTTP_TOKEN_FILE="+w.tokenFile("consul00")+" consul members | awk 'NR > 1 {print $1}' | sort | tr '\\n' ' '")
		return out
	}
	before := members()
	start := func(name, config string) {
		w.t.Helper()
		cmd := fmt.Sprintf(`pkill -9 -x consul; while pgrep -x consul >/dev/null; do sleep 0.2; done; rm -rf /tmp/%[1]s; mkdir -p /tmp/%[1]s && cat > /tmp/%[1]s.hcl <<'EOF'
datacenter = "dc1"
node_name = "rogue00"
data_dir = "/tmp/%[1]s"
bind_addr = "%[2]s"
client_addr = "127.0.0.1"
retry_join = ["%[3]s"]
disable_update_check = true
ports { dns = -1 }
%[4]s
EOF
(setsid /usr/local/bin/consul agent -config-file=/tmp/%[1]s.hcl >/tmp/%[1]s.log 2>&1 </dev/null &)`, name, rogue.Private, c00.Private, config)
		if res, err := c.Run(ctx, cmd, nil); err != nil || res.Code != 0 {
			w.t.Fatalf("start the rogue agent: %v %s", err, res.Stderr)
		}
	}
	// waitLog waits until the rogue agent's log says want.
	waitLog := func(name, want string) string {
		w.t.Helper()
		deadline := time.Now().Add(45 * time.Second)
		for {
			res, _ := c.Run(ctx, "cat /tmp/"+name+".log", nil)
			if strings.Contains(string(res.Stdout), want) {
				return string(res.Stdout)
			}
			if time.Now().After(deadline) {
				w.t.Fatalf("the rogue agent's log never said %q:\n%s", want, tasks.LastLines(string(res.Stdout), 20))
			}
			time.Sleep(time.Second)
		}
	}

	// No gossip key: the cluster does not let it in.
	start("nokey", "")
	waitLog("nokey", "Remote state is encrypted and encryption is not configured")
	if after := members(); after != before {
		w.t.Errorf("members changed: %q -> %q", before, after)
	}

	// The gossip key and the CA, no token: no certificate, no API.
	start("notoken", fmt.Sprintf(`encrypt = "%s"
tls {
  defaults { ca_file = "/tmp/ca.pem" }
  internal_rpc {
    verify_outgoing = true
    verify_server_hostname = true
  }
}
auto_encrypt { tls = true }`, w.gossipKey()))
	waitLog("notoken", "Permission denied: anonymous token lacks permission 'node:write'")
	// Its agent never gets going: it has no certificate, so no leaf for
	// fcc, and what it may take locally never reaches the catalog.
	c.Run(ctx, `curl -s -m 5 -X PUT -d '{"Name":"fcc","Port":9}' 127.0.0.1:8500/v1/agent/service/register`, nil)
	if res, _ := c.Run(ctx, "curl -s -m 5 -o /dev/null -w '%{http_code}' 127.0.0.1:8500/v1/agent/connect/ca/leaf/fcc", nil); string(res.Stdout) == "200" {
		w.t.Error("the rogue agent got a Connect leaf certificate for fcc")
	}
	time.Sleep(3 * time.Second) // what anti-entropy would sync, it would have by now
	if out, _ := w.sh("consul00", "curl -s -H @"+w.tokenHeader("consul00")+" 127.0.0.1:8500/v1/catalog/service/fcc"); strings.Contains(out, "rogue00") {
		w.t.Errorf("the rogue agent registered fcc: %s", out)
	}
	if out, _ := w.sh("consul00", "curl -s -H @"+w.tokenHeader("consul00")+" 127.0.0.1:8500/v1/catalog/nodes"); strings.Contains(out, "rogue00") {
		w.t.Errorf("the rogue agent is a node of the catalog: %s", out)
	}
	c.Run(ctx, "pkill -9 -x consul", nil)

	// RPC (8300) without a client certificate: TLS refuses it.
	probe := fmt.Sprintf(`python3 - <<'EOF'
import socket, ssl
s = socket.create_connection(("%s", 8300), timeout=5)
s.sendall(b"\x03")  # Consul's RPC type for TLS
ctx = ssl.create_default_context(cafile="/tmp/ca.pem")
ctx.check_hostname = False
try:
    t = ctx.wrap_socket(s)
    t.sendall(b"\x00")
    print("answered", t.recv(1))
except Exception as e:
    print("refused", e)
EOF`, c00.Private)
	res, err := c.Run(ctx, probe, nil)
	if err != nil || !strings.Contains(string(res.Stdout), "refused") || !strings.Contains(string(res.Stdout), "certificate required") {
		w.t.Errorf("RPC without a client certificate: %v %s %s", err, res.Stdout, res.Stderr)
	}
}

// gossipKey is the gossip key the runbooks made.
func (w *walk) gossipKey() string { return w.stored("consul/gossip_key", "base64:32") }

// rotate applies rotate.yaml, which retires the gossip key, the Connect
// CA's signing key and the service tokens of fcs and fcc, rolls the new
// ones out and deletes the old tokens, while a reader on fcc00 reads a
// fortune through the mesh every 200 ms: not one read may fail. fcs runs
// on more than one host by then, so each of its sidecars is drained while
// it restarts with its new token. Then an apply of runbook (the rollout
// the cluster was made with) changes nothing.
// meshJournal logs, for a failed read through the mesh, what the proxies
// on its way said: fcc's sidecar's and relay's errors, and when each fcs
// sidecar stopped and started (UTC, as the failures are stamped).
func (w *walk) meshJournal() {
	w.t.Helper()
	out, _ := w.sh("fcc00", "TZ=UTC journalctl -q -o short-precise --since=-15min -u fcc-sidecar -u mesh-entry | grep -iE 'fail|error|stopp|start' | tail -n 40")
	w.t.Logf("fcc00's sidecar and mesh-entry:\n%s", out)
	for _, h := range []string{"fcs00", "fcs01", "fcs02"} {
		out, _ := w.sh(h, "TZ=UTC journalctl -q -o short-precise --since=-15min -u fcs-sidecar | grep -iE 'fail|error|stopp|start' | tail -n 20")
		w.t.Logf("%s's sidecar:\n%s", h, out)
	}
}

func (w *walk) rotate(runbook string) {
	w.t.Helper()
	secretsFile := filepath.Join(w.dir, "..", "secrets", "walkthrough.yaml")
	oldKey := w.gossipKey()
	oldRoot := w.activeRoot()
	oldTokens := map[string]string{}
	for _, svc := range []string{"fcs", "fcc"} {
		oldTokens[svc] = w.secret("consul/tokens/service_" + svc + "/accessor")
	}

	h, err := w.lab.Host("fcc00")
	if err != nil {
		w.t.Fatal(err)
	}
	pool := &transport.Pool{Keys: &transport.HostKeys{Files: []string{w.lab.KnownHostsFile()}}, KeyFiles: []string{w.key}, Timeout: 10 * time.Second}
	defer pool.Close()
	reader, err := pool.Get(context.Background(), transport.Target{Name: "fcc00", Address: h.Public.String(), User: "root"})
	if err != nil {
		w.t.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	var reads int
	var failures []string
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		start := time.Now()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			res, err := reader.Run(context.Background(), "socat -u TCP:127.0.0.1:9191,connect-timeout=5 -", nil)
			reads++
			if err != nil || res.Code != 0 || len(strings.TrimSpace(string(res.Stdout))) == 0 {
				failures = append(failures, fmt.Sprintf("%s (%s): %v exit %d %q", time.Since(start).Round(100*time.Millisecond), time.Now().UTC().Format("15:04:05.000"), err, res.Code, tasks.LastLines(string(res.Stderr), 2)))
			}
		}
	}()
	// Its check shows the rollout and changes nothing.
	before, err := os.ReadFile(secretsFile)
	if err != nil {
		w.t.Fatal(err)
	}
	r := w.apply("rotate.yaml", "--check")
	if after, _ := os.ReadFile(secretsFile); r.Exit != tasktest.ExitDrift || string(after) != string(before) {
		close(stop)
		<-done
		w.t.Fatalf("check of the rotation (the secrets file changed: %v): %s", string(after) != string(before), r)
	}
	r = w.apply("rotate.yaml")
	time.Sleep(2 * time.Second) // reads after the run too
	close(stop)
	<-done
	if r.Exit != 0 {
		w.t.Fatalf("apply after rotating: %s", r)
	}
	if len(failures) > 0 || reads < 20 {
		w.t.Errorf("%d of %d reads through the mesh failed during the rotation: %s", len(failures), reads, strings.Join(failures, "; "))
		w.meshJournal()
	}
	w.t.Logf("%d reads through the mesh during the rotation, none failed", reads)

	newKey := w.gossipKey()
	if newKey == oldKey {
		w.t.Fatal("the gossip key was not made anew")
	}
	// The list is a gossip query to every member; one that times out
	// under load fails the command, not the check: ask until it answers.
	var keys string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Second) {
		out, code := w.sh("consul00", "CONSUL_HTTP_TOKEN_FILE="+w.tokenFile("consul00")+" consul keyring -list 2>&1")
		if keys = out; code == 0 || time.Now().After(deadline) {
			break
		}
	}
	if strings.Contains(keys, oldKey) || !strings.Contains(keys, newKey) {
		w.t.Errorf("the keyring after the rotation (want only the new key):\n%s", redactKeys(keys, oldKey, newKey))
	}
	if newRoot := w.activeRoot(); newRoot == oldRoot || newRoot == "" {
		w.t.Errorf("the Connect CA's active root is still %s", oldRoot)
	}
	// fcc's sidecar has a leaf of the new root: its authority key is the
	// active root's key.
	leaf, _ := w.sh("fcc00", "curl -s -H @"+w.tokenHeader("fcc00")+" 127.0.0.1:8500/v1/agent/connect/ca/leaf/fcc | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"CertPEM\"])' | openssl x509 -noout -ext authorityKeyIdentifier 2>/dev/null | tail -1 | tr -d ' :' | tr a-f A-F")
	rootKey, _ := w.sh("consul00", "curl -s -H @"+w.tokenHeader("consul00")+" 127.0.0.1:8500/v1/connect/ca/roots | python3 -c 'import json,sys; d=json.load(sys.stdin); print([r for r in d[\"Roots\"] if r[\"Active\"]][0][\"SigningKeyID\"])' | tr -d ':' | tr a-f A-F")
	if leaf == "" || leaf != rootKey {
		w.t.Errorf("fcc's leaf has authority key %q, the active root's key is %q", leaf, rootKey)
	}
	// The old service tokens are gone; each sidecar runs with the new
	// one (its credential is the token file) and is in service.
	for svc, old := range oldTokens {
		if out, code := w.sh("consul00", "CONSUL_HTTP_TOKEN_FILE="+w.tokenFile("consul00")+" consul acl token read -accessor-id "+old+" 2>&1"); code == 0 || !strings.Contains(out, "not found") {
			w.t.Errorf("%s's old token %s after the rotation: exit %d: %s", svc, old, code, out)
		}
		if w.secret("consul/tokens/service_"+svc+"/accessor") == old {
			w.t.Errorf("%s's token was not made anew", svc)
		}
	}
	for _, host := range []string{"fcs00", "fcs01", "fcs02", "fcc00"} {
		svc := host[:3]
		file, _ := w.sh(host, "cat /etc/consul.d/tokens/"+svc+".token")
		if file != w.secret("consul/tokens/service_"+svc+"/secret") {
			w.t.Errorf("%s's token file does not hold %s's new token", host, svc)
		}
		if out, _ := w.sh(host, "systemctl show -p ActiveState "+svc+"-sidecar"); !strings.Contains(out, "ActiveState=active") {
			w.t.Errorf("%s's sidecar after the rotation: %s", host, out)
		}
		if checks, _ := w.sh(host, "curl -s -H @"+w.tokenHeader(host)+" 127.0.0.1:8500/v1/agent/checks"); strings.Contains(checks, "maintenance") {
			w.t.Errorf("%s is left in maintenance: %s", host, checks)
		}
	}
	// fcc's sidecar was drained for its restart; the drain is lifted.
	if tables, _ := w.sh("fcc00", "nft list tables"); strings.Contains(tables, "runbook_mesh_drain") {
		w.t.Errorf("fcc00's sidecar is left drained: %s", tables)
	}
	if r = w.apply(runbook); r.Exit != 0 || len(changedHosts(r)) != 0 {
		w.t.Errorf("apply after the rotation changed %v: %s", changedHosts(r), r)
	}
}

// activeRoot is the Connect CA's active root ID.
func (w *walk) activeRoot() string {
	w.t.Helper()
	id, _ := w.sh("consul00", "curl -s -H @"+w.tokenHeader("consul00")+" 127.0.0.1:8500/v1/connect/ca/roots | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"ActiveRootID\"])'")
	return id
}

// redactKeys hides keys in text that goes into a failure message.
func redactKeys(text string, keys ...string) string {
	for i, k := range keys {
		text = strings.ReplaceAll(text, k, fmt.Sprintf("(key %d)", i))
	}
	return text
}

// firewalled checks the host firewall from other lab hosts: a port opened
// on fcs00 outside the list is unreachable from fcc00 (on both networks)
// though it answers on fcs00 itself; Consul's gossip port answers a
// cluster host and not the rogue host on the same private network.
func (w *walk) firewalled() {
	w.t.Helper()
	w.reconnect() // the rogue host's key is known since attacker made it
	fcs00, _ := w.lab.Host("fcs00")
	c00, _ := w.lab.Host("consul00")
	w.sh("fcs00", "(setsid socat TCP-LISTEN:7777,fork,reuseaddr SYSTEM:'echo open' </dev/null >/dev/null 2>&1 &); sleep 0.5")
	defer w.sh("fcs00", "pkill -f TCP-LISTEN:7777")
	if out, _ := w.sh("fcs00", "socat -u TCP:127.0.0.1:7777,connect-timeout=3 -"); out != "open" {
		w.t.Fatalf("the listener on fcs00:7777 does not answer on fcs00 itself: %q", out)
	}
	for _, addr := range []string{fcs00.Private.String(), fcs00.Public.String()} {
		if out, code := w.sh("fcc00", "socat -u TCP:"+addr+":7777,connect-timeout=3 - 2>&1"); code == 0 || strings.Contains(out, "open") {
			w.t.Errorf("fcs00's port 7777 is reachable from fcc00 on %s: %s", addr, out)
		}
	}
	probe := "socat -u TCP:" + c00.Private.String() + ":8301,connect-timeout=3 - </dev/null 2>&1; echo rc=$?"
	if out, _ := w.sh("fcc00", "timeout 5 "+probe); strings.Contains(out, "timed out") {
		w.t.Errorf("consul00's gossip port is not reachable from fcc00: %s", out)
	}
	if out, _ := w.sh("rogue00", "timeout 5 "+probe); !strings.Contains(out, "timed out") {
		w.t.Errorf("consul00's gossip port answers the rogue host: %s", out)
	}
}
