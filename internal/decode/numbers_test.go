package decode_test

import (
	"strings"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
)

func TestDurations(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "0", want: 0},
		{in: "0s", want: 0},
		{in: "90", want: 90 * time.Second},
		{in: "1.5", want: 1500 * time.Millisecond},
		{in: "1e-9", want: time.Nanosecond},
		{in: "1m30s", want: 90 * time.Second},
		{in: "1e-12", err: "f.yaml:1:7: \"1e-12\" is less than a nanosecond: write 0, or a duration such as 30s or 5m"},
		{in: "0.1ns", err: "f.yaml:1:7: \"0.1ns\" is less than a nanosecond"},
		{in: "0.0000000001s", err: "f.yaml:1:7: \"0.0000000001s\" is less than a nanosecond"},
		{in: "-1", err: "f.yaml:1:7: want a duration of 0 or more, got \"-1\""},
		{in: "-5s", err: "f.yaml:1:7: want a duration of 0 or more, got \"-5s\""},
		{in: ".nan", err: "f.yaml:1:7: want a duration such as 30s or 5m, got \".nan\""},
		{in: "nan", err: "f.yaml:1:7: want a duration such as 30s or 5m, got \"nan\""},
		{in: "inf", err: "f.yaml:1:7: want a duration such as 30s or 5m, got \"inf\""},
		{in: ".inf", err: "f.yaml:1:7: want a duration such as 30s or 5m, got \".inf\""},
		{in: "1e300", err: "f.yaml:1:7: \"1e300\" is longer than runbook can wait (about 292 years)"},
		{in: "3000000h", err: "f.yaml:1:7: want a duration such as 30s or 5m, got \"3000000h\""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p := params{Wait: -1}
			err := decode.Node("f.yaml", node(t, "wait: "+tt.in+"\npath: x\n"), &p, decode.Options{})
			if tt.err != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
					t.Fatalf("got %v (wait %s), want an error starting %q", err, p.Wait, tt.err)
				}
				return
			}
			if err != nil || p.Wait != tt.want {
				t.Errorf("got %s, %v; want %s", p.Wait, err, tt.want)
			}
		})
	}
}

func TestFloatsFinite(t *testing.T) {
	type pct struct {
		P *float64 `yaml:"p"`
		F float32  `yaml:"f"`
	}
	for _, in := range []string{"p: .nan", "p: .inf", "p: -.Inf", "f: .NaN", "p: -.inf", "f: .inf"} {
		var out pct
		err := decode.Node("f.yaml", node(t, in), &out, decode.Options{})
		if err == nil || !strings.Contains(err.Error(), "f.yaml:1:4: want a finite number, got ") {
			t.Errorf("%s: got %v", in, err)
		}
	}
	var out pct
	if err := decode.Node("f.yaml", node(t, "p: 12.5\nf: -3"), &out, decode.Options{}); err != nil || *out.P != 12.5 || out.F != -3 {
		t.Errorf("got %+v, %v", out, err)
	}
}
