package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// editDirPrefix names the private directories that hold a file decrypted
// for an editor, with runbook's pid, so that one left behind by a runbook
// killed with SIGKILL is recognised and removed by the next edit.
const editDirPrefix = "runbook-edit-"

// secretsEdit decrypts FILE into a private temporary file (0600, in a
// directory of its own, 0700), runs $EDITOR on it, encrypts what changed,
// and removes the temporary file whatever happens: the editor failing or
// killed, runbook interrupted (SIGINT, SIGTERM, SIGHUP, SIGQUIT) or
// cancelled. Only SIGKILL of runbook can leave it; the next edit removes it.
func secretsEdit(ctx context.Context, e *env, _ *cobra.Command, pos []string) int {
	if len(pos) != 1 {
		return e.errorf("secrets edit: want one FILE")
	}
	path := pos[0]
	// Before anything is decrypted: a signal from now on ends the edit
	// through the cleanup below, never by the default action.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	defer signal.Stop(sigs)

	ids, err := agevars.LoadIdentities()
	if err != nil {
		return e.errorf("%v", err)
	}
	before, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		before = nil
	} else if err != nil {
		return e.errorf("read %s: %v", path, err)
	}
	f, err := agevars.Parse(path, before)
	if err != nil {
		return e.errorf("%v", err)
	}
	ed, err := f.StartEdit(ids)
	if err != nil {
		return e.errorf("%v", err)
	}

	base := editBase()
	removeStaleEditDirs(base)
	dir, err := os.MkdirTemp(base, fmt.Sprintf("%s%d-", editDirPrefix, os.Getpid()))
	if err != nil {
		return e.errorf("secrets edit: make a private directory: %v", err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, filepath.Base(path))
	if err := writePrivate(tmp, ed.Buffer); err != nil {
		return e.errorf("secrets edit: %v", err)
	}

	for {
		if err := runEditor(ctx, e, sigs, tmp); err != nil {
			return e.errorf("secrets edit %s: %v; %s is unchanged, and its decrypted copy removed", path, err, path)
		}
		edited, err := os.ReadFile(tmp)
		if err != nil {
			return e.errorf("secrets edit %s: read what the editor left: %v", path, err)
		}
		if bytes.Equal(edited, ed.Buffer) {
			fmt.Fprintf(e.stderr, "%s: no change\n", path)
			return ExitOK
		}
		out, err := ed.Finish(edited, ownRecipients())
		if err != nil {
			if again(e, err) {
				continue
			}
			return e.errorf("secrets edit: %v; %s is unchanged", err, path)
		}
		if err := save(path, before, out); err != nil {
			return e.errorf("secrets edit: %v", err)
		}
		fmt.Fprintf(e.stderr, "%s: saved, what changed encrypted\n", path)
		return ExitOK
	}
}

// editBase is where the decrypted copy goes: $XDG_RUNTIME_DIR (a tmpfs of
// the user's own, gone at logout) when set, else the temporary directory.
func editBase() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		if info, err := os.Stat(d); err == nil && info.IsDir() {
			return d
		}
	}
	return os.TempDir()
}

func writePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// runEditor runs $EDITOR (default vi) on path. A signal to runbook or the
// context's end stops the editor (SIGTERM, SIGKILL after 3s) and is an
// error, as is the editor failing or being killed.
func runEditor(ctx context.Context, e *env, sigs <-chan os.Signal, path string) error {
	editor := os.Getenv("EDITOR")
	if editor == "" {
		editor = "vi"
	}
	// Through the shell, as git runs it, so that EDITOR may hold
	// arguments ("code --wait"); the file's path is an argument of its
	// own, never part of the script. exec: the editor is the process
	// runbook stops, in runbook's process group, which owns the terminal.
	cmd := exec.Command("/bin/sh", "-c", "exec "+editor+` "$1"`, "editor", path)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
	// What the editor started may hold its output open after it exits.
	cmd.WaitDelay = time.Second
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start the editor %q: %w", editor, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stop := func(why string) error {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		return errors.New(why)
	}
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("the editor %q failed (%v)", editor, err)
		}
		return nil
	case s := <-sigs:
		return stop("interrupted (" + s.String() + ")")
	case <-ctx.Done():
		return stop("interrupted")
	}
}

// again asks, on a terminal, whether to edit again after err (what the
// editor left is not YAML, or holds a mistake).
func again(e *env, err error) bool {
	in, ok := e.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(in.Fd())) {
		return false
	}
	fmt.Fprintf(e.stderr, "runbook: %v\nPress Enter to edit again, or type q and Enter to give up (the file is left as it was): ", err)
	line, _ := bufio.NewReader(in).ReadString('\n')
	return strings.TrimSpace(line) != "q"
}

// save writes out to path, unless the file changed since it was read
// (another edit, a git pull): then nothing is written.
func save(path string, before, out []byte) error {
	unlock, err := agevars.Lock(path)
	if err != nil {
		return err
	}
	defer unlock()
	now, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		now = nil
	} else if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if !bytes.Equal(now, before) {
		return fmt.Errorf("%s changed while you edited it, and your edit is not saved (it would undo that change): run secrets edit again", path)
	}
	return agevars.WriteFile(path, out)
}

// removeStaleEditDirs removes the edit directories under base of runbook
// processes that no longer run (killed with SIGKILL mid-edit), if they
// are this user's.
func removeStaleEditDirs(base string) {
	entries, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, d := range entries {
		rest, ok := strings.CutPrefix(d.Name(), editDirPrefix)
		if !ok || !d.IsDir() {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		info, err := d.Info()
		if err != nil {
			continue
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok || int(st.Uid) != os.Getuid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(filepath.Join(base, d.Name()))
		}
	}
}
