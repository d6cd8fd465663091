package tmpl_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/tmpl"
)

// TestASecretOnTheCommandLineIsRefused: -e arguments are in runbook's own
// argv, which every local user reads in ps, and in shell history; a value
// marked !secret there is refused, and a file is the way.
func TestASecretOnTheCommandLineIsRefused(t *testing.T) {
	for _, arg := range []string{"pw=!secret hunter2-argv", `{"user": "a", "pw": !secret hunter2-argv}`} {
		_, err := tmpl.ParseExtraVars([]string{arg})
		if err == nil || !strings.Contains(err.Error(), "-e @file") || strings.Contains(err.Error(), "hunter2-argv") {
			t.Errorf("-e %s: %v", arg, err)
		}
	}
	file := filepath.Join(t.TempDir(), "secrets.yaml")
	if err := os.WriteFile(file, []byte("pw: !secret hunter2-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vars, err := tmpl.ParseExtraVars([]string{"@" + file, "user=a"})
	if err != nil || !vars["pw"].Secret || vars["user"].Value != "a" {
		t.Errorf("from a file: %v %v", vars, err)
	}
}

// TestExtraVarsKeyValueLikeAnsible: one -e sets every key=value in it,
// as ansible-playbook's does, with shell-like quoting for values with
// spaces; quoted values stay strings. A word that is not key=value is an
// error, rather than a value cut short.
func TestExtraVarsKeyValueLikeAnsible(t *testing.T) {
	vars, err := tmpl.ParseExtraVars([]string{`a=1 b=2`, `c="x y" d='it''s' e=\"q\"`, "f=g=h\tn=3", `s="007" t={{ .a }}-{{ "}" }}`})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": 1, "b": 2, "c": "x y", "d": "its", "e": `"q"`, "f": "g=h", "n": 3, "s": "007", "t": `{{ .a }}-{{ "}" }}`}
	for k, v := range want {
		if got := vars[k].Value; got != v {
			t.Errorf("%s = %#v, want %#v", k, got, v)
		}
	}
	if len(vars) != len(want) {
		t.Errorf("vars = %v", vars)
	}
	for arg, msg := range map[string]string{
		`msg=hello world`: `-e "msg=hello world": "world" is not key=value; quote a value with spaces, as in msg="hello world"`,
		`a="open`:         `-e "a=\"open": unterminated " quote`,
		`=1`:              `-e "=1": want key=value`,
		``:                `want key=value`,
	} {
		_, err := tmpl.ParseExtraVars([]string{arg})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("-e %s: got %v, want %s", arg, err, msg)
		}
	}
	// A secret after another pair is refused as one is alone.
	_, err = tmpl.ParseExtraVars([]string{"user=a pw=!secret hunter2-argv"})
	if err == nil || !strings.Contains(err.Error(), "-e @file") || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("secret in a pair list: %v", err)
	}
}
