package tasks_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"reflect"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/tasks"
	_ "github.com/runbookdev/runbook/tasks/all"
	"gopkg.in/yaml.v3"
)

// valid holds, for every module with a Validate, parameters it accepts:
// typical ones, and those a Provision must prepare (a regexp, a hash to
// normalise, a field implied by another).
func init() {
	// A CA signing key is made here: no key is kept in the repository.
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		panic(err)
	}
	pemText, _ := json.Marshal(string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
	valid["consul_connect_ca"] = []string{`{private_key: ` + string(pemText) + `}`}
}

var valid = map[string][]string{
	"assert":            {`{cmd: "true", stdout_matches: "^ok"}`},
	"apt_repository":    {`{name: example, uris: [https://deb.example.com/debian], suites: [bookworm], components: [main], key: "` + strings.ReplaceAll(exampleKey, "\n", `\n`) + `"}`, `{name: example, state: absent}`},
	"authorized_key":    {`{user: u, key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFx2ZN8Fz9v8bQ4gXGmVhY5m7LdvVdWDN0F0Lw4Z7lQH me", options: "from=\"10.0.0.0/8\",no-pty", exclusive: true}`},
	"binary":            {`{url: "https://example.com/c.zip", member: c, sha256: "sha256:` + strings.Repeat("AB", 32) + `", dest: /usr/local/bin/c}`},
	"blockinfile":       {`{path: /etc/x, block: "a\nb"}`, `{path: /etc/x, block: x, marker: "; {mark} ntp", insertafter: "^\\[main\\]"}`, `{path: /etc/x, block: x, insertbefore: BOF, create: true, mode: "0640", owner: root}`, `{path: /etc/x, state: absent}`},
	"command":           {`{cmd: "true", env: {A: b}, creates: /x}`},
	"consul_acl_policy": {`{name: p, rules: "node_prefix \"\" { policy = \"read\" }"}`, `{name: p, state: absent}`},
	"consul_acl_token": {`{accessor_id: 3f0e6a52-1c2b-4d7e-8a9f-0b1c2d3e4f50, secret_id: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d, policies: [p]}`,
		`{accessor_id: 3f0e6a52-1c2b-4d7e-8a9f-0b1c2d3e4f50, state: absent}`},
	"consul_health":      {`{services: [web]}`},
	"consul_maintenance": {`{service: web, state: enabled}`, `{state: disabled}`},
	"consul_keyring":     {`{key: "` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `"}`},
	"consul_intention":   {`{source: a, destination: b, action: allow}`},
	"consul_intentions":  {`{destination: db, sources: [{name: web, action: allow}]}`, `{destination: db, default: none, sources: [{name: "*", action: deny}]}`},
	"consul_service":     {`{name: web, sidecar_port: 21000, upstreams: [{service: db, local_port: 5432}]}`, `{name: web, sidecar: true}`},
	"copy":               {`{content: x, dest: /etc/x}`, `{src: sshd_config, dest: /etc/ssh/sshd_config, validate: "sshd -t -f %s", backup: true}`, `{src: files/, dest: /etc/app, mode: "0640", directory_mode: "0750"}`},
	"debug":              {`{msg: hello}`, `{var: out.stdout}`},
	"file":               {`{path: /etc/x, content: x, mode: "0600"}`, `{path: /etc/d, state: directory}`, `{path: /etc/l, state: link, src: ../x, force: true}`, `{path: /run/x, state: touch, mode: "0600"}`, `{path: /srv/app, state: directory, recurse: true, owner: app}`},
	"group":              {`{name: g}`},
	"line":               {`{path: /etc/x, line: "a = 1", regexp: "^a ="}`, `{path: /etc/x, line: "a = 1", insertafter: "^#a"}`, `{path: /etc/x, line: x, insertbefore: BOF}`, `{path: /etc/x, regexp: "^#", state: absent}`},
	"metal":              {`{hostname: "c%02d", count: 3, plan: p, metro: sv, operating_system: os}`},
	"package":            {`{name: [curl]}`},
	"systemd":            {`{name: consul, state: started}`, `{name: cups, masked: true, state: stopped}`, `{name: getty@tty2, enabled: true, state: started}`, `{name: app, src: units/app.service.tmpl, enabled: true}`},
	"template":           {`{src: t.tmpl, dest: /etc/x}`},
	"user":               {`{name: u, groups: [g]}`, `{name: u, groups: [docker], append: true, authorized_keys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFx2ZN8Fz9v8bQ4gXGmVhY5m7LdvVdWDN0F0Lw4Z7lQH u@h"], authorized_keys_exclusive: true}`},
	"wait":               {`{port: 80}`, `{path: /var/log/app.log, search_regex: "(?m)^ready$"}`, `{path: /var/lib/dpkg/lock, state: absent}`, `{port: 25, search_regex: "^220 "}`},
	"sysctl":             {`{name: net.ipv4.ip_forward, value: "1"}`, `{name: net/ipv4/ip_forward, state: absent}`},
	"modprobe":           {`{name: br-netfilter, params: "a=1 b", persistent: true}`, `{name: dummy, state: absent}`},
	"mount":              {`{path: /mnt/data, src: tmpfs, fstype: tmpfs, opts: size=8m, state: mounted}`, `{path: /mnt/data/, state: absent}`},
	"nftables":           {`{table: runbook, content: "chain input { type filter hook input priority 0; policy drop; }", file: /etc/nftables.d/runbook.nft}`, `{table: runbook, state: absent}`},
	"reboot":             {`{reboot_timeout: 5m, connect_timeout: 10s, pre_reboot_delay: 2s, post_reboot_delay: 5s, msg: "kernel update", test_command: "systemctl is-system-running --wait"}`, `{reboot_command: "shutdown -r now"}`},
	"hostname":           {`{name: web01}`, `{name: web01.example.com, update_hosts: false}`},
	"timezone":           {`{name: Europe/Berlin}`, `{name: UTC}`},
	"cron":               {`{name: backup, minute: "0", hour: "3", job: "/usr/local/bin/backup", env: {MAILTO: ops@example.com}}`, `{name: boot, special_time: reboot, user: app, job: "true"}`, `{name: boot, state: absent}`},
	"timer":              {`{name: backup, on_calendar: "*-*-* 04:00:00", command: /usr/local/bin/backup, user: app, persistent: true}`, `{name: backup, state: absent}`},
	"stat":               {`{path: /etc/x, follow: true, checksum: true}`},
	"unarchive":          {`{src: release.tar.gz, dest: /srv/app, owner: app, group: app, creates: /srv/app/bin}`, `{src: /tmp/r.zip, remote_src: true, dest: /srv/app}`},
	"uri":                {`{url: "https://example.com/api", method: post, body_format: json, body: {a: 1}, status_code: [200, 201]}`, `{url: "http://127.0.0.1:8080/health", url_username: u, url_password: p, ca_path: /etc/ssl/ca.pem}`},
}

// Validate judges; it must not change the task (Provision prepares it).
// Each task is decoded twice, as the engine decodes it, provisioned, and
// one of the two validated: they must still be equal.
func TestValidateDoesNotChangeTheTask(t *testing.T) {
	for _, name := range tasks.Names() {
		mod, _ := tasks.Lookup(name)
		if _, ok := mod.New().(tasks.Validator); !ok {
			continue
		}
		if len(valid[name]) == 0 {
			t.Errorf("%s has a Validate: add parameters it accepts to valid", name)
		}
		for _, with := range valid[name] {
			judged, kept := prepared(t, mod, with), prepared(t, mod, with)
			if err := judged.(tasks.Validator).Validate(); err != nil {
				t.Errorf("%s %s: %v", name, with, err)
				continue
			}
			if !reflect.DeepEqual(judged, kept) {
				t.Errorf("%s %s: Validate changed the task\nbefore: %+v\nafter:  %+v", name, with, kept, judged)
			}
		}
	}
}

// prepared decodes with into a new task and provisions it.
func prepared(t *testing.T, mod tasks.Module, with string) tasks.Task {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(with), &doc); err != nil {
		t.Fatalf("%s: %v", mod.Name, err)
	}
	task := mod.New()
	if err := decode.Node("test.yaml", doc.Content[0], task, decode.Options{}); err != nil {
		t.Fatalf("%s %s: %v", mod.Name, with, err)
	}
	if p, ok := task.(tasks.Provisioner); ok {
		if err := p.Provision(); err != nil {
			t.Fatalf("%s %s: provision: %v", mod.Name, with, err)
		}
	}
	return task
}

// exampleKey is an OpenPGP public key (EdDSA) for apt_repository's key.
const exampleKey = `-----BEGIN PGP PUBLIC KEY BLOCK-----

xjMEaxJDiRYJKwYBBAHaRw8BAQdALnHgJs+PkNX1tuOgupHbMppebSzXlWi+pMlc
WQMWXArNInJ1bmJvb2sgZXhhbXBsZSA8cmVwb0BleGFtcGxlLmNvbT7CvQQTFggA
bwWCaxJDiQILBwkQtmHZH3r3iD41FAAAAAAAHAAQc2FsdEBub3RhdGlvbnMub3Bl
bnBncGpzLm9yZ4WYFXWXLNY8ljSWl/OHSukCFQgCFgACGQECmwMCHgEWIQR6KcLn
IlVNBXeqqDe2YdkfeveIPgAAiHMA/ixzM4a9FeJgVoASwlnCZddXWsJjy2AehItJ
HBEzrKUdAP90LOlSQo3Wu28Mxm9oUOpTq771Z8vWhFmmSPPMUioLDc44BGsSQ4kS
CisGAQQBl1UBBQEBB0CMsvlWlKqbHeSeOeesC4O1nN7ACrUbh22RpBJrxgp2TwMB
CgnCrgQYFggAYAWCaxJDiQkQtmHZH3r3iD41FAAAAAAAHAAQc2FsdEBub3RhdGlv
bnMub3BlbnBncGpzLm9yZ5sklIxTftamKFBSUWdBnekCmwwWIQR6KcLnIlVNBXeq
qDe2YdkfeveIPgAAH70A+wTjTjK9bGgh5ktOSIxJGKW9NKwcgeXl2a2WrlqlcqH9
AP9QJi65Exb3j5DSYM+p0jAlhIT0aC0veenzROSel7QeDA==
-----END PGP PUBLIC KEY BLOCK-----
`
