package copy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/engine"
	_ "github.com/runbookdev/runbook/tasks/debug"
	"github.com/runbookdev/runbook/tasks/tasktest"
)

// sshdConfig writes a host key for sshd -t to read, and returns a config
// using it, with extra lines.
func sshdConfig(t *testing.T, dir string, extra string) string {
	t.Helper()
	key := filepath.Join(dir, "host_key")
	if _, err := os.Stat(key); err != nil {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v: %s", err, out)
		}
	}
	return fmt.Sprintf("Port 2222\nHostKey %s\n%s", key, extra)
}

// validator runs sshd -t on the copy, after noting where the copy is, how
// its directory and it are protected, and whether an unprivileged user
// can read it, in seen.
func validator(seen string) string {
	return fmt.Sprintf(`echo %%s >>%[1]s; stat -c '%%a %%U' -- "$(dirname %%s)" %%s >>%[1]s; `+
		`if setpriv --reuid=nobody --regid=nogroup --clear-groups cat %%s >/dev/null 2>&1; then echo readable by nobody >>%[1]s; fi; `+
		`sshd -t -f %%s`, seen)
}

// checkSeen checks what validator noted, and returns the copies' paths.
func checkSeen(t *testing.T, seen, dest string) []string {
	t.Helper()
	data, err := os.ReadFile(seen)
	if err != nil {
		t.Fatalf("the validator did not run: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines)%3 != 0 {
		t.Fatalf("validator saw:\n%s", data)
	}
	var copies []string
	for i := 0; i < len(lines); i += 3 {
		p := lines[i]
		if p == dest || filepath.Base(p) != filepath.Base(dest) {
			t.Errorf("validated %s, want a copy named as %s elsewhere", p, dest)
		}
		if lines[i+1] != "700 root" || lines[i+2] != "600 root" {
			t.Errorf("the copy's directory and the copy were %q, %q; want 700 root, 600 root", lines[i+1], lines[i+2])
		}
		if _, err := os.Lstat(filepath.Dir(p)); !os.IsNotExist(err) {
			t.Errorf("the copy's directory %s is still there: %v", filepath.Dir(p), err)
		}
		copies = append(copies, p)
	}
	return copies
}

func TestCopyValidateTimeline(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: sshd -t and the unprivileged reader need root (CI runs as root)")
	}
	env := tasktest.New(t)
	dest := filepath.Join(env.Dir, "sshd_config")
	seen := filepath.Join(t.TempDir(), "seen")
	conf := sshdConfig(t, env.Dir, "PermitRootLogin no\n")
	rb := fmt.Sprintf("steps:\n  - {name: sshd, hosts: h1, task: copy, with: {content: %q, dest: %s, mode: \"0600\", validate: %q, backup: true}}\n", conf, dest, validator(seen))

	before := tasktest.Snapshot(t, env.Dir)
	r := env.Apply(rb, "--check")
	if r.Exit != tasktest.ExitDrift || !slices.Equal(r.Result("sshd").Changes, []string{fmt.Sprintf("+ create %s (%d bytes, 0600)", dest, len(conf))}) {
		t.Fatalf("first check: %s", r)
	}
	if tasktest.Snapshot(t, env.Dir) != before {
		t.Fatal("check mode changed the host")
	}
	if _, err := os.Stat(seen); !os.IsNotExist(err) {
		t.Fatalf("check mode ran the validator: %v", err)
	}
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK {
		t.Fatalf("apply: %s", r)
	}
	if got, _ := os.ReadFile(dest); string(got) != conf {
		t.Fatalf("dest = %q", got)
	}
	checkSeen(t, seen, dest)
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("second check: %s", r)
	}

	// Drift by hand: a line added, and the mode opened. The old file is
	// kept with its content and mode, and named in the summary.
	drifted := conf + "PasswordAuthentication yes\n"
	os.WriteFile(dest, []byte(drifted), 0o644)
	os.Chmod(dest, 0o644)
	r = env.Apply(rb, "--check", "--diff")
	ev := r.Result("sshd")
	if r.Exit != tasktest.ExitDrift || !strings.Contains(ev.Diff, "-PasswordAuthentication yes") ||
		!slices.Contains(ev.Changes, "+ back up the old "+dest+" as "+dest+".<time>~") {
		t.Fatalf("drift check: %s", r)
	}
	os.Remove(seen)
	if r = env.Apply(rb); r.Exit != tasktest.ExitOK || r.Result("sshd").Status != engine.Changed {
		t.Fatalf("repair: %s", r)
	}
	checkSeen(t, seen, dest)
	backups, _ := filepath.Glob(dest + ".*~")
	if len(backups) != 1 || !slices.Contains(r.Result("sshd").Changes, "+ back up the old "+dest+" as "+backups[0]) {
		t.Fatalf("backups %q, changes %q", backups, r.Result("sshd").Changes)
	}
	if got, _ := os.ReadFile(backups[0]); string(got) != drifted {
		t.Errorf("backup holds %q", got)
	}
	if st, _ := os.Stat(backups[0]); st.Mode().Perm() != 0o644 {
		t.Errorf("backup mode %v, want the old file's 0644", st.Mode().Perm())
	}
	if got, _ := os.ReadFile(dest); string(got) != conf {
		t.Fatalf("dest = %q", got)
	}
	if r = env.Apply(rb, "--check"); r.Exit != tasktest.ExitOK {
		t.Fatalf("after repair: %s", r)
	}
}

// A config sshd refuses is not installed: the file keeps its content,
// mode and inode, no backup is made, and the step fails with what sshd
// said.
func TestCopyValidateFails(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: sshd -t and the unprivileged reader need root (CI runs as root)")
	}
	env := tasktest.New(t)
	dest := filepath.Join(env.Dir, "sshd_config")
	good := sshdConfig(t, env.Dir, "")
	if err := os.WriteFile(dest, []byte(good), 0o640); err != nil {
		t.Fatal(err)
	}
	var before syscall.Stat_t
	syscall.Stat(dest, &before)
	seen := filepath.Join(t.TempDir(), "seen")
	bad := good + "PermitRootLogn no\n"
	rb := fmt.Sprintf("steps:\n  - {name: sshd, hosts: h1, task: copy, with: {content: %q, dest: %s, mode: \"0600\", validate: %q, backup: true}}\n", bad, dest, validator(seen))
	r := env.Apply(rb)
	ev := r.Result("sshd")
	if r.Exit != tasktest.ExitError || ev.Status != engine.Failed {
		t.Fatalf("a refused config: want the step failed\n%s", r)
	}
	if !strings.Contains(ev.Message, "refused the new content of "+dest+", which is left as it was") ||
		!strings.Contains(ev.Message, "Bad configuration option: PermitRootLogn") || !strings.Contains(ev.Stderr, "Bad configuration option: PermitRootLogn") {
		t.Errorf("message %q, stderr %q: want sshd's complaint", ev.Message, ev.Stderr)
	}
	var after syscall.Stat_t
	syscall.Stat(dest, &after)
	if got, _ := os.ReadFile(dest); string(got) != good || after.Ino != before.Ino || after.Mode != before.Mode {
		t.Errorf("dest changed: %q, inode %d -> %d, mode %o -> %o", got, before.Ino, after.Ino, before.Mode, after.Mode)
	}
	if backups, _ := filepath.Glob(dest + ".*~"); len(backups) != 0 {
		t.Errorf("a refused config made backups %q", backups)
	}
	checkSeen(t, seen, dest)
}

func TestCopyValidateNeedsPercentS(t *testing.T) {
	env := tasktest.New(t)
	r := env.Apply("steps:\n  - {name: c, hosts: h1, task: copy, with: {content: x, dest: /tmp/x, validate: visudo -c}}\n")
	if r.Exit != tasktest.ExitError || !strings.Contains(r.Stderr, `validate "visudo -c" has no %s: write where the new file's path goes`) {
		t.Fatalf("%s", r)
	}
}

// The backup's name is never taken from another file, nor written
// through a symlink planted there: a name taken is passed over.
func TestCopyBackupNameTaken(t *testing.T) {
	env := tasktest.New(t)
	dest := filepath.Join(env.Dir, "app.conf")
	os.WriteFile(dest, []byte("old\n"), 0o640)
	secret := filepath.Join(env.Dir, "secret")
	os.WriteFile(secret, []byte("secret\n"), 0o600)
	// Every name the next seconds could give, taken by a symlink.
	now := time.Now().UTC()
	for i := range 5 {
		name := dest + "." + now.Add(time.Duration(i)*time.Second).Format("2006-01-02T150405Z") + "~"
		if err := os.Symlink(secret, name); err != nil {
			t.Fatal(err)
		}
	}
	rb := fmt.Sprintf(`steps:
  - {name: c, hosts: h1, task: copy, with: {content: "new\n", dest: %s, backup: true}, register: c}
  - {name: said, hosts: h1, task: debug, with: {msg: "{{ .c.backup_file }}"}}
`, dest)
	r := env.Apply(rb)
	if r.Exit != tasktest.ExitOK {
		t.Fatalf("%s", r)
	}
	b := r.Result("said").Message
	if !strings.HasPrefix(b, dest+".") || !strings.HasSuffix(b, ".2~") {
		t.Fatalf("backup_file = %q, want the first name free (.2~)", b)
	}
	if got, _ := os.ReadFile(b); string(got) != "old\n" {
		t.Errorf("backup holds %q", got)
	}
	if got, _ := os.ReadFile(secret); string(got) != "secret\n" {
		t.Errorf("the symlink's target was written: %q", got)
	}
	if got, _ := os.ReadFile(dest); string(got) != "new\n" {
		t.Errorf("dest = %q", got)
	}
}
