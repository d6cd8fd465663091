package cli_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/cli"
	"github.com/runbookdev/runbook/internal/poll"
)

// secrets runs `runbook secrets ARGS` with stdin.
func secrets(stdin string, args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := cli.RunWithInput(context.Background(), append([]string{"secrets"}, args...), strings.NewReader(stdin), &out, &errOut)
	return code, out.String(), errOut.String()
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	info, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSecretsInit(t *testing.T) {
	h := t.TempDir()
	t.Setenv("HOME", h)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv(agevars.EnvKeyFile, "")
	code, out, errOut := secrets("", "init")
	key := filepath.Join(h, ".config", "runbook", "age.key")
	if code != cli.ExitOK || !strings.HasPrefix(out, "age1") || !strings.Contains(errOut, "made the age key "+key) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	if mode(t, key) != 0o600 || mode(t, filepath.Dir(key)) != 0o700 {
		t.Errorf("modes %v %v", mode(t, key), mode(t, filepath.Dir(key)))
	}
	if !strings.Contains(read(t, key), "# public key: "+strings.TrimSpace(out)) {
		t.Errorf("key file:\n%s", read(t, key))
	}
	before := read(t, key)
	code, _, errOut = secrets("", "init")
	if code != cli.ExitError || !strings.Contains(errOut, key+" is already there, and runbook never replaces a key") || !strings.Contains(errOut, "its public key is "+strings.TrimSpace(out)) || read(t, key) != before {
		t.Errorf("second init: exit %d\n%s", code, errOut)
	}
}

func TestSecretsEncryptDecryptShowSet(t *testing.T) {
	_, pub := ageHome(t)
	dir := t.TempDir()
	p := filepath.Join(dir, "secrets.yaml")
	files(t, dir, map[string]string{"secrets.yaml": "# tokens\ntoken: S3cret-Token-1\nport: 8500\n"})

	// encrypt: in place, 0600, for the user's own key by default.
	code, out, errOut := secrets("", "encrypt", p)
	if code != cli.ExitOK || !strings.Contains(errOut, p+": 1 value encrypted, for "+pub) {
		t.Fatalf("encrypt: exit %d\n%s%s", code, out, errOut)
	}
	enc := read(t, p)
	if strings.Contains(enc, "S3cret-Token-1") || !strings.Contains(enc, "token: !encrypted |") || mode(t, p) != 0o600 {
		t.Errorf("encrypted (mode %v):\n%s", mode(t, p), enc)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left in the directory: %v", entries)
	}
	// show: names, never values.
	code, out, _ = secrets("", "show", p)
	if code != cli.ExitOK || out != p+"\nrecipients:\n  "+pub+"\nvalues:\n  token  encrypted\n  port   plain\n" {
		t.Errorf("show: exit %d\n%s", code, out)
	}
	code, out, _ = secrets("", "show", "--reveal", p)
	if code != cli.ExitOK || !strings.Contains(out, "token: !secret S3cret-Token-1\n") {
		t.Errorf("show --reveal: exit %d\n%s", code, out)
	}
	// decrypt: to standard output; the file is left encrypted.
	code, out, _ = secrets("", "decrypt", p)
	if code != cli.ExitOK || !strings.Contains(out, "# tokens\n") || !strings.Contains(out, "token: !secret S3cret-Token-1\nport: 8500\n") || read(t, p) != enc {
		t.Errorf("decrypt: exit %d\n%s", code, out)
	}

	// set: the value from standard input, never the command line.
	code, _, errOut = secrets("N3w-Token-2\n", "set", p, "token")
	if code != cli.ExitOK || !strings.Contains(errOut, p+": token set (encrypted)") {
		t.Fatalf("set: exit %d\n%s", code, errOut)
	}
	if s := read(t, p); strings.Contains(s, "N3w-Token-2") || !strings.Contains(s, "# tokens\n") || mode(t, p) != 0o600 {
		t.Errorf("after set (mode %v):\n%s", mode(t, p), s)
	}
	secrets("multi\nline\n\n", "set", p, "consul/ca")
	code, out, _ = secrets("", "decrypt", p)
	if !strings.Contains(out, "token: !secret N3w-Token-2\n") || !strings.Contains(out, "consul: !secret\n  ca: |\n    multi\n    line\n") {
		t.Errorf("after set: exit %d\n%s", code, out)
	}
	before := read(t, p)
	code, _, errOut = secrets("N3w-Token-2", "set", p, "token")
	if code != cli.ExitOK || !strings.Contains(errOut, "token already holds that value") || read(t, p) != before {
		t.Errorf("set to the same value: exit %d\n%s", code, errOut)
	}
	for args, want := range map[string]string{
		"":           "no value on standard input: pipe it in",
		"2fa":        `"2fa" is no variable name`,
		"facts":      `"facts" is reserved`,
		"a//b":       `name "a//b": an empty part`,
		"port/inner": "port holds one value, not a mapping of names",
	} {
		stdin := "v4lue"
		name := args
		if args == "" {
			stdin, name = "", "token"
		}
		code, _, errOut := secrets(stdin, "set", p, name)
		if code != cli.ExitError || !strings.Contains(errOut, want) {
			t.Errorf("set %q: exit %d, want %q\n%s", name, code, want, errOut)
		}
	}
	if code, _, errOut := secrets("", "set", p, "token", "V4lue-In-Argv"); code != cli.ExitError || !strings.Contains(errOut, "never on the command line") {
		t.Errorf("a value as an argument: exit %d\n%s", code, errOut)
	}
	if read(t, p) != before {
		t.Error("a refused set changed the file")
	}

	// decrypt --in-place: plain, still 0600, and still secret when read.
	code, _, errOut = secrets("", "decrypt", "--in-place", p)
	if code != cli.ExitOK || !strings.Contains(read(t, p), "token: !secret N3w-Token-2\n") || mode(t, p) != 0o600 || !strings.Contains(errOut, "plain text on disk") {
		t.Errorf("decrypt --in-place: exit %d\n%s\n%s", code, errOut, read(t, p))
	}
	// encrypt again: only the header's recipients, any -r refused.
	other := filepath.Join(t.TempDir(), "other.key")
	otherPub, _ := agevars.Init(other)
	if code, _, errOut := secrets("", "encrypt", "-r", otherPub, p); code != cli.ExitError || !strings.Contains(errOut, "already names its recipients ("+pub+"): change them with `runbook secrets rekey") {
		t.Errorf("encrypt -r on a file with recipients: exit %d\n%s", code, errOut)
	}
	if code, _, _ := secrets("", "encrypt", p); code != cli.ExitOK || strings.Contains(read(t, p), "N3w-Token-2") {
		t.Errorf("encrypt again: exit %d\n%s", code, read(t, p))
	}
}

func TestSecretsRekeyAndErrors(t *testing.T) {
	key, pub := ageHome(t)
	p := write(t, "s.yaml", "token: S3cret-Token-1\n")
	if code, _, errOut := secrets("", "encrypt", p); code != cli.ExitOK {
		t.Fatal(errOut)
	}
	other := filepath.Join(t.TempDir(), "other.key")
	otherPub, _ := agevars.Init(other)
	pubFile := write(t, "other.pub", "# Bob\n"+otherPub+"\n")

	// Bob cannot read it, and is told for whom it is.
	t.Setenv(agevars.EnvKeyFile, other)
	code, out, errOut := secrets("", "decrypt", p)
	if code != cli.ExitError || out != "" || !strings.Contains(errOut, p+":4:8: token: cannot decrypt: it is not encrypted for any of your keys (RUNBOOK_AGE_KEY_FILE="+other+"); it is for "+pub) {
		t.Errorf("decrypt by another: exit %d\n%s%s", code, out, errOut)
	}
	// Added from a file of keys, he can.
	t.Setenv(agevars.EnvKeyFile, key)
	code, _, errOut = secrets("", "rekey", "--add", pubFile, p)
	if code != cli.ExitOK || !strings.Contains(errOut, "every value encrypted anew, for "+pub+", "+otherPub) {
		t.Fatalf("rekey --add: exit %d\n%s", code, errOut)
	}
	t.Setenv(agevars.EnvKeyFile, other)
	if code, out, errOut := secrets("", "decrypt", p); code != cli.ExitOK || !strings.Contains(out, "S3cret-Token-1") {
		t.Errorf("decrypt by the added: exit %d\n%s%s", code, out, errOut)
	}
	// Bob removes Alice.
	code, _, errOut = secrets("", "rekey", "--remove", pub, p)
	if code != cli.ExitOK || !strings.Contains(errOut, "for "+otherPub+"\n") || !strings.Contains(errOut, "change those secrets") {
		t.Errorf("rekey --remove: exit %d\n%s", code, errOut)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rekey", p}, "say whom to --add or --remove"},
		{[]string{"rekey", "--remove", otherPub, p}, "would have no recipient left"},
		{[]string{"rekey", "--add", "ssh-dss AAAA", p}, `recipient "ssh-dss AAAA" is not an SSH public key`},
		{[]string{"rekey", "--add", "alice", p}, `recipient "alice": want an age public key (age1...) or an SSH public key`},
		{[]string{"rekey", "--add", "AGE-SECRET-KEY-1QQQQ", p}, "that is an age private key"},
		{[]string{"encrypt", filepath.Join(t.TempDir(), "missing.yaml")}, "missing.yaml: no such file"},
		{[]string{"show"}, "secrets show: want one FILE"},
		{[]string{"frobnicate"}, `unknown secrets command "frobnicate"`},
	} {
		code, _, errOut := secrets("", tc.args...)
		if code != cli.ExitError || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "QQQQ") {
			t.Errorf("%v: exit %d, want %q\n%s", tc.args, code, tc.want, errOut)
		}
	}
	// A damaged value: which one, and which line.
	s := read(t, p)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "token:") {
			b := []byte(lines[i+2])
			b[10] ^= 1
			lines[i+2] = string(b)
			os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o600)
			code, _, errOut := secrets("", "show", "--reveal", p)
			want := p + ":" + strconv.Itoa(i+1) + ":8: token: the encrypted value is damaged"
			if code != cli.ExitError || !strings.Contains(errOut, want) {
				t.Errorf("damaged: exit %d, want %q\n%s", code, want, errOut)
			}
			break
		}
	}
}

// editSetup makes an encrypted file holding a random secret (so that no
// file made before the test, such as the test binary, holds it), an
// EDITOR script, and a temporary directory of the test's own as TMPDIR.
type editSetup struct {
	file, secret, tmp, mark string
	encrypted               string
}

func newEditSetup(t *testing.T, script string) *editSetup {
	t.Helper()
	ageHome(t)
	dir, markDir, tmp := t.TempDir(), t.TempDir(), t.TempDir()
	s := &editSetup{file: filepath.Join(dir, "secrets.yaml"), secret: "S3cret-" + randomHex(t), tmp: tmp, mark: filepath.Join(markDir, "path")}
	files(t, dir, map[string]string{"secrets.yaml": "token: " + s.secret + "\nport: 8500\nother: 0ther-Value\n"})
	if code, _, errOut := secrets("", "encrypt", s.file); code != cli.ExitOK {
		t.Fatal(errOut)
	}
	s.encrypted = read(t, s.file)
	editor := filepath.Join(markDir, "editor.sh")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\necho \"$1\" > "+s.mark+"\n"+script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("EDITOR", editor)
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("TMPDIR", tmp)
	return s
}

// checkNoPlaintext: the editor's copy and its directory are gone, the
// temporary directory is empty, and no recent file under /tmp holds the
// secret.
func (s *editSetup) checkNoPlaintext(t *testing.T, start time.Time) {
	t.Helper()
	if p, err := os.ReadFile(s.mark); err != nil {
		t.Errorf("the editor did not run: %v", err)
	} else {
		copyPath := strings.TrimSpace(string(p))
		if !strings.HasPrefix(copyPath, s.tmp+"/runbook-edit-") {
			t.Errorf("the decrypted copy was at %s, not in TMPDIR", copyPath)
		}
		if _, err := os.Stat(filepath.Dir(copyPath)); !os.IsNotExist(err) {
			t.Errorf("the decrypted copy's directory is still there: %v", err)
		}
	}
	if entries, _ := os.ReadDir(s.tmp); len(entries) > 0 {
		t.Errorf("left in TMPDIR: %v", entries)
	}
	for _, root := range []string{s.tmp, "/tmp", "/dev/shm"} {
		n := 0
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || n > 50000 {
				return nil
			}
			n++
			info, err := d.Info()
			if err != nil || !info.Mode().IsRegular() || info.Size() > 1<<20 || info.ModTime().Before(start) {
				return nil
			}
			if b, err := os.ReadFile(p); err == nil && bytes.Contains(b, []byte(s.secret)) {
				t.Errorf("%s holds the secret", p)
			}
			return nil
		})
	}
}

func randomHex(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/kernel/random/uuid")
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(strings.TrimSpace(string(b)), "-", "")[:16]
}

func TestSecretsEdit(t *testing.T) {
	s := newEditSetup(t, `sed -i 's/^token: !secret S3cret-.*/token: !secret N3w-Value-42/; s/^port: 8500/port: 8600/' "$1"`)
	start := time.Now()
	code, out, errOut := secrets("", "edit", s.file)
	if code != cli.ExitOK || !strings.Contains(errOut, s.file+": saved") {
		t.Fatalf("edit: exit %d\n%s%s", code, out, errOut)
	}
	after := read(t, s.file)
	if mode(t, s.file) != 0o600 || strings.Contains(after, "N3w-Value-42") || !strings.Contains(after, "\nport: 8600\n") {
		t.Errorf("after the edit (mode %v):\n%s", mode(t, s.file), after)
	}
	// other's lines are as they were.
	if i := strings.Index(s.encrypted, "other: "); i < 0 || !strings.Contains(after, s.encrypted[i:]) {
		t.Errorf("other changed:\n%s\nwas\n%s", after, s.encrypted)
	}
	_, out, _ = secrets("", "decrypt", s.file)
	if !strings.Contains(out, "token: !secret N3w-Value-42\nport: 8600\nother: !secret 0ther-Value\n") {
		t.Errorf("decrypted:\n%s", out)
	}
	s.checkNoPlaintext(t, start)
}

func TestSecretsEditWithoutChange(t *testing.T) {
	s := newEditSetup(t, "true")
	// A copy left by an edit whose runbook was killed (SIGKILL): removed.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(s.tmp, "runbook-edit-"+strconv.Itoa(dead.Process.Pid)+"-123")
	os.Mkdir(stale, 0o700)
	os.WriteFile(filepath.Join(stale, "secrets.yaml"), []byte("token: "+s.secret+"\n"), 0o600)
	start := time.Now().Add(-time.Second)
	code, _, errOut := secrets("", "edit", s.file)
	if code != cli.ExitOK || !strings.Contains(errOut, s.file+": no change") || read(t, s.file) != s.encrypted {
		t.Errorf("edit: exit %d\n%s", code, errOut)
	}
	s.checkNoPlaintext(t, start)
}

// The editor killed, or leaving what is not YAML: the file is as it was,
// and the decrypted copy is gone.
func TestSecretsEditFails(t *testing.T) {
	for name, tc := range map[string]struct{ script, want string }{
		"killed":  {"kill -9 $$", "failed (signal: killed); " + "FILE is unchanged, and its decrypted copy removed"},
		"fails":   {"exit 3", "failed (exit status 3)"},
		"no YAML": {`echo 'token: [' > "$1"`, "(as edited):1: YAML syntax"},
	} {
		t.Run(name, func(t *testing.T) {
			s := newEditSetup(t, tc.script)
			start := time.Now()
			code, _, errOut := secrets("", "edit", s.file)
			if code != cli.ExitError || !strings.Contains(errOut, strings.ReplaceAll(tc.want, "FILE", s.file)) || read(t, s.file) != s.encrypted || strings.Contains(errOut, s.secret) {
				t.Errorf("exit %d, want %q\n%s", code, tc.want, errOut)
			}
			s.checkNoPlaintext(t, start)
		})
	}
}

// runbook itself interrupted while the editor runs (a signal, or Ctrl-C
// cancelling the run's context): the editor is stopped, the copy removed.
func TestSecretsEditInterrupted(t *testing.T) {
	for _, how := range []string{"SIGTERM", "SIGHUP", "context"} {
		t.Run(how, func(t *testing.T) {
			s := newEditSetup(t, `echo $$ > "$1.pid"; exec sleep 60`)
			start := time.Now()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			type result struct {
				code   int
				errOut string
			}
			done := make(chan result, 1)
			go func() {
				var out, errOut bytes.Buffer
				code := cli.RunWithInput(ctx, []string{"secrets", "edit", s.file}, strings.NewReader(""), &out, &errOut)
				done <- result{code, errOut.String()}
			}()
			var pid int
			_, _, err := poll.Until(context.Background(), 20*time.Second, 20*time.Millisecond, func(context.Context) (bool, string, error) {
				p, err := os.ReadFile(s.mark)
				if err != nil {
					return false, "the editor", nil
				}
				b, err := os.ReadFile(strings.TrimSpace(string(p)) + ".pid")
				if err != nil {
					return false, "the editor's pid", nil
				}
				pid, err = strconv.Atoi(strings.TrimSpace(string(b)))
				return err == nil, "the editor's pid", nil
			})
			if err != nil {
				t.Fatal(err)
			}
			switch how {
			case "SIGTERM":
				syscall.Kill(os.Getpid(), syscall.SIGTERM)
			case "SIGHUP":
				syscall.Kill(os.Getpid(), syscall.SIGHUP)
			default:
				cancel()
			}
			var r result
			select {
			case r = <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("edit did not end")
			}
			if r.code != cli.ExitError || !strings.Contains(r.errOut, "interrupted") || !strings.Contains(r.errOut, "is unchanged, and its decrypted copy removed") || read(t, s.file) != s.encrypted {
				t.Errorf("exit %d\n%s", r.code, r.errOut)
			}
			if err := syscall.Kill(pid, 0); err == nil {
				t.Errorf("the editor (pid %d) still runs", pid)
			}
			s.checkNoPlaintext(t, start)
		})
	}
}
