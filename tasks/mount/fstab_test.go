package mount

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{"/mnt/my data": `/mnt/my\040data`, "a\tb": `a\011b`, `c\d`: `c\134d`, "/srv": "/srv"} {
		if got := escape(in); got != want {
			t.Errorf("escape(%q) = %q, want %q", in, got, want)
		}
		if got := unescape(want); got != in {
			t.Errorf("unescape(%q) = %q, want %q", want, got, in)
		}
	}
	if got := unescape(`a\04`); got != `a\04` {
		t.Errorf("a short escape: %q", got)
	}
}

func TestEdit(t *testing.T) {
	tmp := &entry{"tmpfs", "/mnt/my data", "tmpfs", "size=8m", "0", "0"}
	const other = "# comment\nUUID=1 / ext4 errors=remount-ro 0 1\n"
	for _, tc := range []struct {
		name, text string
		want       *entry
		out        string
	}{
		{"appended", other, tmp, other + "tmpfs /mnt/my\\040data tmpfs size=8m 0 0\n"},
		{"no final newline", "UUID=1 / ext4 defaults 0 1", tmp, "UUID=1 / ext4 defaults 0 1\ntmpfs /mnt/my\\040data tmpfs size=8m 0 0\n"},
		{"other spacing kept", other + "tmpfs\t/mnt/my\\040data  tmpfs size=8m\n", tmp, other + "tmpfs\t/mnt/my\\040data  tmpfs size=8m\n"},
		{"replaced, duplicates removed", "tmpfs /mnt/my\\040data tmpfs size=4m 0 0\n" + other + "x /mnt/my\\040data ext4 defaults 0 2\n", tmp, "tmpfs /mnt/my\\040data tmpfs size=8m 0 0\n" + other},
		{"removed", other + "tmpfs /mnt/my\\040data tmpfs size=4m 0 0\n", nil, other},
		{"a commented line is not the entry", "#tmpfs /mnt/my\\040data tmpfs size=8m 0 0\n", nil, "#tmpfs /mnt/my\\040data tmpfs size=8m 0 0\n"},
		{"extra fields", "tmpfs /mnt/my\\040data tmpfs size=8m 0 0 junk\n", tmp, "tmpfs /mnt/my\\040data tmpfs size=8m 0 0 junk\n"},
		{"empty file", "", tmp, "tmpfs /mnt/my\\040data tmpfs size=8m 0 0\n"},
	} {
		if d := cmp.Diff(tc.out, edit(tc.text, "/mnt/my data", tc.want)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}

const mountinfo = `23 1 0:45 / / rw,relatime - overlay overlay rw,lowerdir=/x
61 23 0:50 / /mnt/my\040data rw,relatime shared:1 - tmpfs tmpfs rw,size=8192k
62 23 0:45 /srv/a /mnt/b ro,relatime - overlay overlay rw,lowerdir=/x
63 23 0:51 / /srv rw - ext4 /dev/sdb1 rw
64 23 0:51 /a/b /mnt/c rw - ext4 /dev/sdb1 rw
`

func TestMountinfo(t *testing.T) {
	ms, err := parseMountinfo(mountinfo)
	if err != nil {
		t.Fatal(err)
	}
	if got := at(ms, "/mnt/my data"); got == nil || got.fstype != "tmpfs" || got.source != "tmpfs" {
		t.Errorf("the tmpfs: %+v", got)
	}
	if got := at(ms, "/mnt"); got != nil {
		t.Errorf("/mnt is no mount point: %+v", got)
	}
	for p, want := range map[string]string{"/etc/x": "0:45 /etc/x", "/srv/a/b": "0:51 /a/b", "/srv": "0:51 /", "/srvx": "0:45 /srvx"} {
		m, inside := containing(ms, p)
		if got := m.dev + " " + inside; got != want {
			t.Errorf("containing(%s) = %s, want %s", p, got, want)
		}
	}
	if _, err := parseMountinfo("1 2 3"); err == nil {
		t.Error("a short line was read")
	}
}
