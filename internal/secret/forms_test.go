package secret_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/secret"
)

// TestWhatAHostMakesOfASecretIsHidden: a host given a secret may print it
// changed by programs no template sees (tr, base64, xxd, od, curl's URL
// encoding): those forms are hidden too, alone or inside other text.
func TestWhatAHostMakesOfASecretIsHidden(t *testing.T) {
	const pw = `Hunter2 <&> "x"`
	long := strings.Repeat("0123456789abcdef-", 8) // base64 and hex that tools wrap
	var s secret.Set
	s.Add(pw)
	s.Add(long)
	b64 := base64.StdEncoding.EncodeToString([]byte(long))
	hexLong := hex.EncodeToString([]byte(long))
	j, _ := json.Marshal(pw)
	forms := []string{
		strings.ToUpper(pw), strings.ToLower(pw), string(j[1 : len(j)-1]),
		base64.StdEncoding.EncodeToString([]byte(pw)), base64.RawStdEncoding.EncodeToString([]byte(pw)),
		base64.URLEncoding.EncodeToString([]byte(pw)), base64.RawURLEncoding.EncodeToString([]byte(pw)),
		hex.EncodeToString([]byte(pw)), strings.ToUpper(hex.EncodeToString([]byte(pw))),
		url.QueryEscape(pw), url.PathEscape(pw),
		b64[:76], b64[76:152], // base64(1) wraps at 76 columns
		b64[:64], b64[64:128], // PEM and openssl at 64
		hexLong[:60], hexLong[60:120], // xxd -p at 60
	}
	for _, f := range forms {
		if got := s.Redact("<" + f + ">"); strings.Contains(got, f) || !strings.Contains(got, secret.Mask) {
			t.Errorf("%q shown as %q", f, got)
		}
	}
	// base64 of a text holding the secret (an HTTP basic auth header, a
	// config file shipped encoded): its middle is hidden at any offset.
	for _, prefix := range []string{"", "u:", "us:", "user:"} {
		enc := base64.StdEncoding.EncodeToString([]byte(prefix + long + "\n"))
		got := s.Redact(enc)
		if !strings.Contains(got, secret.Mask) || len(got) > 12+len(secret.Mask)+8 {
			t.Errorf("base64 of %q+secret: %q shown as %q", prefix, enc, got)
		}
	}
	for _, plain := range []string{"Hunter", "hunter2", "ordinary text", "SHVudGVy"} {
		if got := s.Redact(plain); got != plain {
			t.Errorf("%q shown as %q", plain, got)
		}
	}
}

// TestLongOutputIsHiddenLineByLine: a secret step's registered output may
// be megabytes; past maxForms it is hidden whole and line by line only.
func TestLongOutputIsHiddenLineByLine(t *testing.T) {
	var s secret.Set
	out := strings.Repeat("a line of output that is long enough\n", 3000) + "last-line-xyz"
	s.Add(out)
	if got := s.Redact("x\nlast-line-xyz\ny"); got != "x\n********\ny" {
		t.Errorf("a line: %q", got)
	}
	if got := s.Redact(out); got != secret.Mask {
		t.Errorf("the whole: %q", got[:min(len(got), 80)])
	}
}
