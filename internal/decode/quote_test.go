package decode_test

import (
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/decode"
	"gopkg.in/yaml.v3"
)

const pem = `-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACCZc3EdaNEvvv0rQSjNNjbN48Hm911mjdXaX3rhX5zvyAAAAJD2Ew819hMP
-----END OPENSSH PRIVATE KEY-----`

func TestQuote(t *testing.T) {
	tests := map[string]string{
		"soon":                     `"soon"`,
		"":                         `""`,
		"two\nlines":               `"two"...`,
		"crlf\r\nline":             `"crlf"...`,
		strings.Repeat("a", 40):    `"` + strings.Repeat("a", 40) + `"`,
		strings.Repeat("a", 41):    `"` + strings.Repeat("a", 40) + `"...`,
		strings.Repeat("é", 41):    `"` + strings.Repeat("é", 40) + `"...`,
		pem:                        `"-----BEGIN OPENSSH PRIVATE KEY-----"...`,
		"tab\there \"quoted\"\x00": `"tab\there \"quoted\"\x00"`,
	}
	for in, want := range tests {
		if got := decode.Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// Errors quote a short start of a value: never a whole multi-line value,
// never a secret.
func TestErrorsQuoteShort(t *testing.T) {
	indented := "    " + strings.ReplaceAll(pem, "\n", "\n    ")
	tests := []struct{ name, in, want string }{
		{"block scalar", "path: x\ncount: |\n" + indented + "\n", `want a whole number, got "-----BEGIN OPENSSH PRIVATE KEY-----"...`},
		{"folded plain scalar", "path: x\ncount: " + strings.ReplaceAll(pem, "\n", "\n  ") + "\n", `want a whole number, got "-----BEGIN OPENSSH PRIVATE KEY----- b3Bl"...`},
		{"duration", "path: x\nwait: |\n" + indented + "\n", `want a duration such as 30s or 5m, got "-----BEGIN OPENSSH PRIVATE KEY-----"...`},
		{"key", "path: x\n? |\n" + indented + "\n: 1\n", `unknown key "-----BEGIN OPENSSH PRIVATE KEY-----"...`},
		{"whole file", pem + "\n", `f.yaml:1:1: want a mapping, and the file holds a single value instead`},
		{"secret", "path: x\ncount: !secret hunter2\n", `f.yaml:2:8: want a whole number, got a secret value`},
		{"secret duration", "path: x\nwait: !secret hunter2\n", `f.yaml:2:7: want a duration such as 30s or 5m, got a secret value`},
		{"secret list", "path: x\ntags: !secret {hunter2: x}\n", `f.yaml:2:7: want a list, got a secret value`},
		{"secret through an alias", "path: x\nenv: {A: &s !secret hunter2}\ncount: *s\n", `f.yaml:2:10: want a whole number, got a secret value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p params
			err := decode.Node("f.yaml", node(t, tt.in), &p, decode.Options{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
			for _, leak := range []string{"QyNTUxOQAAACC", "hunter2"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error quotes %q: %v", leak, err)
				}
			}
		})
	}
}

// A module's own UnmarshalYAML may quote what it was given; for a secret
// the decoder says so instead.
type picky string

func (p *picky) UnmarshalYAML(n *yaml.Node) error {
	return decode.Errorf(decode.At("", n), "want yes or no, got %q", n.Value)
}

func TestSecretNotQuotedByUnmarshaler(t *testing.T) {
	var out struct {
		P picky `yaml:"p"`
	}
	err := decode.Node("f.yaml", node(t, "p: !secret hunter2\n"), &out, decode.Options{})
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "f.yaml:1:4: want a picky, got a secret value") {
		t.Errorf("got %v", err)
	}
}
