package inventory_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/runbookdev/runbook/inventory"
)

// view is what an inventory says of its hosts, for comparing two.
type view struct {
	Hosts  map[string]string // name -> connection, user@address:port
	Groups map[string][]string
	Vars   map[string]map[string]any
}

func viewOf(t *testing.T, path string) view {
	t.Helper()
	prov, err := inventory.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Sources{prov}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v := view{Hosts: map[string]string{}, Groups: inv.GroupMembers(), Vars: map[string]map[string]any{}}
	for _, h := range inv.Hosts() {
		v.Hosts[h.Name] = fmt.Sprintf("%s %s@%s:%d key=%s become=%v/%s", h.Connection, h.User, h.Address, h.Port, h.Key, h.Become, h.BecomeUser)
		vars := map[string]any{}
		for _, layer := range inv.VarLayers(h.Name) {
			for k, x := range layer {
				vars[k] = x.Value
			}
		}
		v.Vars[h.Name] = vars
	}
	return v
}

// TestAnsibleDocsExamples reads the examples of Ansible's "How to build
// your inventory" in both of its formats: each pair says the same.
func TestAnsibleDocsExamples(t *testing.T) {
	for _, name := range []string{"docs-basic", "docs-children", "docs-ranges", "docs-vars", "seed"} {
		t.Run(name, func(t *testing.T) {
			ini := viewOf(t, filepath.Join("testdata/ansible", name+".ini"))
			yml := viewOf(t, filepath.Join("testdata/ansible", name+".yaml"))
			// Keys are relative to their file: the same directory.
			if diff := cmp.Diff(ini, yml); diff != "" {
				t.Errorf("INI and YAML differ (-ini +yaml):\n%s", diff)
			}
		})
	}
}

func TestAnsibleINIGroups(t *testing.T) {
	v := viewOf(t, "testdata/ansible/docs-children.ini")
	want := map[string][]string{
		"all":        {"mail.example.com", "foo.example.com", "bar.example.com", "one.example.com", "two.example.com", "three.example.com"},
		"ungrouped":  {"mail.example.com"},
		"webservers": {"foo.example.com", "bar.example.com"},
		"dbservers":  {"one.example.com", "two.example.com", "three.example.com"},
		"east":       {"foo.example.com", "one.example.com", "two.example.com"},
		"west":       {"bar.example.com", "three.example.com"},
		"prod":       {"foo.example.com", "one.example.com", "two.example.com"},
		"test":       {"bar.example.com", "three.example.com"},
	}
	if diff := cmp.Diff(want, v.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}

func TestAnsibleRanges(t *testing.T) {
	v := viewOf(t, "testdata/ansible/docs-ranges.ini")
	web := v.Groups["webservers"]
	if len(web) != 50 || web[0] != "www01.example.com" || web[49] != "www50.example.com" {
		t.Errorf("webservers: %d hosts, %v ... %v", len(web), web[:1], web[len(web)-1:])
	}
	if diff := cmp.Diff([]string{"db-a.example.com", "db-b.example.com", "db-c.example.com", "db-d.example.com", "db-e.example.com", "db-f.example.com"}, v.Groups["dbservers"]); diff != "" {
		t.Errorf("dbservers (-want +got):\n%s", diff)
	}
	evens := v.Groups["evens"]
	if len(evens) != 25 || evens[1] != "www03.example.com" || evens[24] != "www49.example.com" {
		t.Errorf("evens: %v", evens)
	}
}

func TestAnsibleVarsAndConnection(t *testing.T) {
	v := viewOf(t, "testdata/ansible/docs-vars.ini")
	hosts := map[string]string{
		"badwolf.example.com": " @badwolf.example.com:5309 key= become=false/",
		"jumper":              " @192.0.2.50:5555 key= become=false/",
		"localhost":           "local @localhost:0 key= become=false/",
		"other1.example.com":  "ssh myuser@other1.example.com:0 key= become=false/",
	}
	for name, want := range hosts {
		if got := v.Hosts[name]; got != want {
			t.Errorf("host %s: got %q, want %q", name, got, want)
		}
	}
	// host2 is in atlanta and raleigh; atlanta's and southeast's
	// variables reach it through children; INI values are typed.
	want := map[string]any{
		"http_port": 303, "maxRequestsPerChild": 909,
		"ntp_server": "ntp.atlanta.example.com", "proxy": "proxy.atlanta.example.com",
		"some_server": "foo.southeast.example.com", "halon_system_timeout": 30,
		"self_destruct_countdown": 60, "escape_pods": 2,
	}
	if diff := cmp.Diff(want, v.Vars["host2"]); diff != "" {
		t.Errorf("host2's variables (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"host1", "host2", "host3"}, v.Groups["usa"]); diff != "" {
		t.Errorf("usa (-want +got):\n%s", diff)
	}
}

func TestAnsibleSeed(t *testing.T) {
	v := viewOf(t, "testdata/ansible/seed.ini")
	key := filepath.Join("testdata/ansible", "keys/id_ed25519")
	for _, h := range []string{"consul00", "consul01", "consul02", "fcs00", "fcc00"} {
		if want := fmt.Sprintf(" root@%s:0 key=%s become=false/", h, key); v.Hosts[h] != want {
			t.Errorf("host %s: got %q, want %q", h, v.Hosts[h], want)
		}
		if v.Vars[h]["consul_count"] != 3 || v.Vars[h]["datacenter"] != "sv" {
			t.Errorf("host %s: variables %v", h, v.Vars[h])
		}
	}
	want := map[string][]string{
		"all":         {"consul00", "consul01", "consul02", "fcs00", "fcc00"},
		"walkthrough": {"consul00", "consul01", "consul02", "fcs00", "fcc00"},
		"consul":      {"consul00", "consul01", "consul02"},
		"fcs":         {"fcs00"}, "fcc": {"fcc00"},
	}
	if diff := cmp.Diff(want, v.Groups); diff != "" {
		t.Errorf("groups (-want +got):\n%s", diff)
	}
}

// TestAnsibleINITyping: values are typed as Python's literal_eval types
// them, after shell-style unquoting on host lines.
func TestAnsibleINITyping(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hosts")
	os.WriteFile(p, []byte(`h1 i=42 f=1.5 t=True fl=False n=None s=hello lower=true pad=01 q="two words" sq='42' dq="'42'" c=1#comment
[all:vars]
gi=7
gs="7"
gt=yes
`), 0o644)
	v := viewOf(t, p)
	want := map[string]any{
		"i": 42, "f": 1.5, "t": true, "fl": false, "n": nil, "s": "hello", "lower": "true", "pad": "01",
		"q": "two words", "sq": 42, "dq": "42", "c": 1, "gi": 7, "gs": "7", "gt": "yes",
	}
	if diff := cmp.Diff(want, v.Vars["h1"]); diff != "" {
		t.Errorf("variables (-want +got):\n%s", diff)
	}
}

// TestAnsiblePrecedence: a child group's variables win over its parent's,
// whatever the order of the file, and the host's over its groups', as in
// Ansible and runbook's own inventory.
func TestAnsiblePrecedence(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hosts.ini")
	os.WriteFile(p, []byte(`[web:vars]
x=web
[prod:vars]
x=prod
y=prod
[all:vars]
x=all
y=all
z=all
[prod:children]
web
[web]
w1
w2 x=host
`), 0o644)
	v := viewOf(t, p)
	if diff := cmp.Diff(map[string]any{"x": "web", "y": "prod", "z": "all"}, v.Vars["w1"]); diff != "" {
		t.Errorf("w1 (-want +got):\n%s", diff)
	}
	if v.Vars["w2"]["x"] != "host" {
		t.Errorf("w2: x = %v, want host", v.Vars["w2"]["x"])
	}
}

func TestAnsibleErrors(t *testing.T) {
	tests := map[string]struct{ content, want string }{
		"section":  {"[web\nw1\n", "hosts:1:1: want a section header"},
		"kind":     {"[web:hosts]\n", `hosts:1:1: section [web:hosts]: unknown kind "hosts"`},
		"novalue":  {"[web]\nw1 ansible_port\n", `hosts:2:4: host "w1": want NAME=VALUE after the host, got "ansible_port"`},
		"quote":    {"[web]\nw1 a=\"b\n", "hosts:2:1: a \" opened at column 6 is not closed"},
		"range":    {"[web]\n  w[1:]\n", `hosts:2:3: host range "w[1:]": "[1:]": give the end of the range`},
		"width":    {"w[01:100]\n", "zero-padded range needs a beginning and an end of the same width"},
		"huge":     {"w[0:99999999]\n", "expands to more than 100000 hosts"},
		"vars":     {"[web:vars]\nnovalue\n", `hosts:2:1: [web:vars]: want NAME=VALUE, got "novalue"`},
		"varname":  {"w1 my-var=1\n", `hosts:1:4: variable name "my-var"`},
		"port":     {"w1 ansible_port=http\n", `hosts:1:17: host "w1": ansible_port must be a port between 1 and 65535, got "http"`},
		"conn":     {"w1 ansible_connection=winrm\n", `ansible_connection must be ssh or local`},
		"become":   {"w1 ansible_become_method=runas\n", `hosts:1:26: host "w1": ansible_become_method must be sudo, su or doas (runbook becomes no other way), got "runas"`},
		"hostport": {"w1:99999\n", "hosts:1:1: host \"w1:99999\": the port after ':' must be a number"},
		"child":    {"[a:children]\nb c\n", `hosts:2:1: [a:children]: want the name of a group`},
		"cycle":    {"[a:children]\nb\n[b:children]\na\n", "group cycle"},
		"hostgrp":  {"[a]\nb\n[b]\nc\n", `"b" is both a host`},
		"yamlkey":  {"all:\n  host:\n    a:\n", `hosts:2:3: group "all": unknown key "host"; did you mean "hosts"?`},
		"yamlhost": {"all:\n  hosts: [a, b]\n", `hosts:2:10: group "all": hosts: want a mapping`},
		"yamlown":  {"all:\n  children:\n    a:\n      children:\n        a:\n", `hosts:5:9: group "a" is its own child`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "hosts")
			os.WriteFile(p, []byte(tt.content), 0o644)
			prov, err := inventory.Open(p)
			if err == nil {
				_, err = inventory.Sources{prov}.Load(context.Background())
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if got := strings.ReplaceAll(err.Error(), p, "hosts"); !strings.Contains(got, tt.want) {
				t.Errorf("error:\n%s\nwant it to contain:\n%s", got, tt.want)
			}
		})
	}
}

// TestAnsibleBecome: ansible_become_method says how the host's steps
// become; the become password, in any of its names and layers, is a
// secret even when written plainly.
func TestAnsibleBecome(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "hosts.ini")
	os.WriteFile(p, []byte(`[web]
w1 ansible_become_method=su ansible_become_pass=hostpw
w2
[web:vars]
ansible_become=true
ansible_become_password=grouppw
`), 0o644)
	os.MkdirAll(filepath.Join(dir, "host_vars"), 0o755)
	os.WriteFile(filepath.Join(dir, "host_vars", "w2.yaml"), []byte("become_password: filepw\nother: plain\n"), 0o644)
	prov, err := inventory.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := inventory.Sources{prov}.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	secret := map[string]bool{}
	for _, name := range []string{"w1", "w2"} {
		for _, layer := range inv.VarLayers(name) {
			for k, v := range layer {
				secret[name+"."+k] = v.Secret
			}
		}
	}
	want := map[string]bool{
		"w1.ansible_become": false, "w1.ansible_become_method": false, "w1.ansible_become_pass": true, "w1.ansible_become_password": true,
		"w2.ansible_become": false, "w2.ansible_become_password": true, "w2.become_password": true, "w2.other": false,
	}
	if diff := cmp.Diff(want, secret); diff != "" {
		t.Errorf("secret variables (-want +got):\n%s", diff)
	}
	w1, _ := inv.Host("w1")
	w2, _ := inv.Host("w2")
	if w1.BecomeMethod != "su" || !w1.Become || w2.BecomeMethod != "" || !w2.Become {
		t.Errorf("become: w1 %v %q, w2 %v %q", w1.Become, w1.BecomeMethod, w2.Become, w2.BecomeMethod)
	}
}

// TestDetectByContent: neither name nor extension decides the format.
func TestDetectByContent(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"a.yaml": "[web]\nw1\n",
		"b.ini":  "all:\n  hosts:\n    w2:\n",
		"c":      "hosts:\n  w3: {address: 10.0.0.3}\n",
		"d.yml":  "web:\n  hosts:\n    w4:\n",
		"e":      "# hosts\nw5 ansible_host=10.0.0.5\n",
	}
	for name, content := range files {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o644)
		v := viewOf(t, p)
		if len(v.Hosts) != 1 {
			t.Errorf("%s: hosts %v", name, v.Hosts)
		}
	}
}
