package nftables_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/file"
	_ "github.com/runbookdev/runbook/tasks/nftables"
	"github.com/runbookdev/runbook/tasks/tasktest"
	"github.com/runbookdev/runbook/tasks/tasktest/labkit"
)

// firewall is a host firewall as the walkthrough's: default deny inbound
// but SSH and one service port.
func firewall(extra string) string {
	return fmt.Sprintf(`
steps:
  - {name: dir, hosts: h1, task: file, with: {path: /etc/nftables.d, state: directory, mode: "0755"}}
  - name: fw
    hosts: h1
    task: nftables
    with:
      table: runbook
      file: /etc/nftables.d/runbook.nft
      content: |
        chain input {
          type filter hook input priority 0; policy drop;
          ct state established,related accept
          iif lo accept
          tcp dport 22 accept
          %s
        }
`, extra)
}

func TestNftablesTimeline(t *testing.T) {
	env := labkit.New(t)
	// Another table, someone else's: left alone.
	env.Sh("nft add table ip other && nft add chain ip other c && mkdir -p /etc/nftables.d")
	rb := firewall("tcp dport 8181 accept")

	r := env.Apply(rb, "--check", "--diff")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("fw").Changes, ";"), "+ table inet runbook") || !strings.Contains(r.Result("fw").Diff, "dport 8181 accept") {
		t.Fatalf("first check: %s", r)
	}
	if got := env.Sh("nft list tables"); strings.Contains(got, "runbook") {
		t.Fatalf("check mode made the table: %s", got)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("fw").Status != engine.Changed {
		t.Fatalf("apply: %s", r)
	}
	if got := env.Sh("nft list table inet runbook"); !strings.Contains(got, "policy drop") || !strings.Contains(got, "tcp dport 8181 accept") {
		t.Fatalf("the table on the host: %s", got)
	}
	if got := env.Sh("nft list tables; stat -c '%a %U' /etc/nftables.d/runbook.nft; nft -c -f /etc/nftables.d/runbook.nft && echo valid"); !strings.Contains(got, "table ip other") || !strings.Contains(got, "600 root") || !strings.HasSuffix(got, "valid") {
		t.Fatalf("the other table, the file: %s", got)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}

	// Drift: a port opened by hand.
	env.Sh("nft add rule inet runbook input tcp dport 9999 accept")
	r = env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(strings.Join(r.Result("fw").Changes, ";"), "~ table inet runbook: 0 lines added, 1 removed") {
		t.Fatalf("drift check: %s", r)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("repair: %s", r)
	}
	if got := env.Sh("nft list table inet runbook"); strings.Contains(got, "9999") {
		t.Fatalf("the hand-made rule survived: %s", got)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("check after repair: %s", r)
	}

	// Bad nft is refused in check mode, with nft's words.
	r = env.Apply(firewall("tcp dport 8181 acept"), "--check")
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Result("fw").Message, "nft refuses the content") {
		t.Fatalf("bad syntax: %s", r)
	}

	// Absent.
	absent := "steps:\n  - {name: fw, hosts: h1, task: nftables, with: {table: runbook, state: absent}}\n"
	if r = env.Apply(absent); r.Exit != tasktest.ExitOK || r.Result("fw").Status != engine.Changed {
		t.Fatalf("absent: %s", r)
	}
	if got := env.Sh("nft list tables"); strings.Contains(got, "runbook") || !strings.Contains(got, "other") {
		t.Fatalf("after absent: %s", got)
	}
	if r = env.Apply(absent, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("absent, check: %s", r)
	}
}

// A ruleset that shuts the controller's SSH out is refused: applied, found
// to cut new SSH connections, and the table as it was put back.
func TestNftablesRefusesToCutSSH(t *testing.T) {
	env := labkit.New(t)
	if r := env.Apply(firewall("")); r.Exit != tasktest.ExitOK {
		t.Fatalf("a good firewall: %s", r)
	}
	before := env.Sh("nft list table inet runbook")
	noSSH := strings.Replace(firewall(""), "tcp dport 22 accept", "tcp dport 2222 accept", 1)
	r := env.Apply(noSSH)
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Result("fw").Message, "cuts SSH") || !strings.Contains(r.Result("fw").Message, "is back") {
		t.Fatalf("a firewall without SSH: %s", r)
	}
	if got := env.Sh("nft list table inet runbook; ls /run/runbook-nftables | wc -l"); got != before+"\n0" {
		t.Fatalf("after the refusal (want the table as before and no armed rollback):\n%s\nbefore:\n%s", got, before)
	}
	// Told to, it applies it: the check for the next step is whether SSH
	// from here still works, which it must not.
	allowed := strings.Replace(noSSH, "table: runbook", "table: runbook\n      allow_ssh_cut: true", 1)
	if r = env.Apply(allowed); r.Exit != tasktest.ExitOK {
		t.Fatalf("allow_ssh_cut: %s", r)
	}
	if got := env.Sh("nft list table inet runbook"); !strings.Contains(got, "2222") {
		t.Fatalf("allow_ssh_cut did not apply it: %s", got)
	}
}

// Bad parameters are refused before any host is contacted.
func TestNftablesRefusesBadInput(t *testing.T) {
	for with, want := range map[string]string{
		`{table: "fw; reboot", content: "chain c { }"}`:    "a name is letters",
		`{table: fw, family: ipx, content: "chain c { }"}`: "family",
		`{table: fw}`:                                              "content",
		`{table: fw, content: "flush ruleset"}`:                    "not table, flush or delete",
		`{table: fw, content: "chain c { }", file: rel.nft}`:       "absolute",
		`{table: fw, content: "chain c { }", confirm_timeout: 1s}`: "at least 5s",
		`{table: fw, state: absent, content: "chain c { }"}`:       "remove content",
	} {
		f := filepath.Join(t.TempDir(), "site.yaml")
		os.WriteFile(f, []byte("steps:\n  - {name: s, hosts: local, task: nftables, with: "+with+"}\n"), 0o644)
		if r := labkit.CLI(t, "validate", f); r.Exit != tasktest.ExitError || !strings.Contains(r.String(), want) {
			t.Errorf("%s: want an error saying %q: %s", with, want, r)
		}
	}
}
