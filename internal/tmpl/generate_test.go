package tmpl_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
)

// secretsFile gives the test an age key and returns a secrets file path
// that does not exist yet.
func secretsFile(t *testing.T) string {
	t.Helper()
	t.Setenv("HOME", t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", "")
	key := filepath.Join(t.TempDir(), "age.key")
	if _, err := agevars.Init(key); err != nil {
		t.Fatal(err)
	}
	t.Setenv(agevars.EnvKeyFile, key)
	return filepath.Join(t.TempDir(), "secrets.yaml")
}

// What a rendering makes of a value straight from `secret` is secret
// whole, as a rendering that reads a secret variable is: text/template's
// own slice, index and len take it apart where no wrapper sees. In check
// mode, where the secret is not made yet, the placeholder is no secret.
func TestWhatIsMadeOfAGeneratedSecretIsSecret(t *testing.T) {
	path := secretsFile(t)
	for _, check := range []bool{false, true} {
		var set secret.Set
		taint := tmpl.NewTaint(&set)
		taint.UseSecrets(agevars.NewStore(path, check))
		for _, in := range []string{
			`{{ slice (secret "tok" "hex:32") 0 20 }}`, `{{ index (secret "tok" "hex:32") 3 }}-{{ len (secret "tok" "hex:32") }}`,
			`{{ range $i, $c := split "" (secret "tok" "hex:32") }}{{ if lt $i 10 }}{{ $c }}{{ end }}{{ end }}`,
		} {
			data := map[string]any{}
			tr := taint.Track(data)
			out, err := tmpl.Render(at, in, data)
			if err != nil {
				t.Fatalf("%s: %v", in, err)
			}
			if shown := set.Redact(out); shown != secret.Mask || !tr.Held() {
				t.Errorf("check %v: %s gave %q, shown as %q, held %v", check, in, out, shown, tr.Held())
			}
			v, err := tmpl.Value(at, in, data)
			if s, _ := v.(string); err != nil || set.Redact(s) != secret.Mask {
				t.Errorf("check %v: %s as a value: %v, shown as %q", check, in, err, set.Redact(s))
			}
		}
	}
	// A condition on it is not a read, as for a secret variable.
	var set secret.Set
	taint := tmpl.NewTaint(&set)
	taint.UseSecrets(agevars.NewStore(path, false))
	data := map[string]any{}
	tr := taint.Track(data)
	out, err := tmpl.Render(at, `{{ if eq (secret "tok" "hex:32") "" }}none{{ else }}https{{ end }}`, data)
	ok, cerr := tmpl.Cond(at, `ne (secret "tok" "hex:32") ""`, data)
	if out != "https" || err != nil || !ok || cerr != nil || tr.Held() || set.Redact("https true") != "https true" {
		t.Errorf("conditions: %q %v %v %v, held %v", out, err, ok, cerr, tr.Held())
	}

	set = secret.Set{}
	taint = tmpl.NewTaint(&set)
	taint.UseSecrets(agevars.NewStore(secretsFile(t), true))
	data = map[string]any{}
	tr = taint.Track(data)
	if out, err := tmpl.Render(at, `{{ slice (secret "tok" "hex:32") 0 20 }}`, data); err != nil || set.Redact(out) != out || tr.Held() {
		t.Errorf("the placeholder of check mode: %q %v, held %v", set.Redact(out), err, tr.Held())
	}
}

// retired gives the value a secret had before `runbook secrets rotate`,
// secret as the secret itself, and "" when there is none: the last step
// of a rotation deletes the old token with it.
func TestRetiredIsTheValueBeforeTheRotation(t *testing.T) {
	path := secretsFile(t)
	old, _, err := agevars.NewStore(path, false).Secret("tok", "hex:32")
	if err != nil {
		t.Fatal(err)
	}
	const in = `{{ with retired "tok" }}delete {{ . }}{{ else }}nothing to delete{{ end }}`
	render := func(check bool) (string, *secret.Set) {
		var set secret.Set
		taint := tmpl.NewTaint(&set)
		taint.UseSecrets(agevars.NewStore(path, check))
		data := map[string]any{}
		taint.Track(data)
		out, err := tmpl.Render(at, in, data)
		if err != nil {
			t.Fatal(err)
		}
		return out, &set
	}
	if out, _ := render(false); out != "nothing to delete" {
		t.Errorf("before a rotation: %q", out)
	}
	if _, err := agevars.Rotate(path, []string{"tok"}); err != nil {
		t.Fatal(err)
	}
	for _, check := range []bool{true, false} {
		out, set := render(check)
		if out != "delete "+old || set.Redact(out) != secret.Mask {
			t.Errorf("check %v: %q, shown as %q", check, out, set.Redact(out))
		}
	}
	if _, err := tmpl.Render(at, `{{ retired "tok" }}`, map[string]any{}); err == nil || !strings.Contains(err.Error(), "secrets_file") {
		t.Errorf("without a secrets file: %v", err)
	}
}
