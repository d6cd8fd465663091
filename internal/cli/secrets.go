package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/output"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

const secretsLong = `Vars files whose values are encrypted with age, one by one, their names
left readable (docs/secrets.md). runbook decrypts them as it reads them
(vars_files, -e @FILE, group_vars/, host_vars/) with your age key
($RUNBOOK_AGE_KEY_FILE, else ~/.config/runbook/age.key) or your SSH key
(~/.ssh/id_ed25519, id_rsa).`

func newSecretsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets COMMAND [flags] FILE ...",
		Short: "vars files whose values are encrypted with age: init, encrypt, decrypt, edit, set, rekey, show, rotate",
		Long:  secretsLong,
		Example: `  runbook secrets init
  runbook secrets encrypt -r age1... group_vars/all/secrets.yaml
  runbook secrets set group_vars/all/secrets.yaml db_password < password.txt`,
		DisableFlagsInUseLine: true,
		RunE: e.run(func(_ context.Context, cmd *cobra.Command, args []string) int {
			return parentCommand(e, cmd, args)
		}),
	}
	sub := func(use, short string, fn func(context.Context, *env, *cobra.Command, []string) int) *cobra.Command {
		c := &cobra.Command{Use: use, Short: short, RunE: e.run(func(ctx context.Context, cmd *cobra.Command, args []string) int {
			return fn(ctx, e, cmd, args)
		})}
		c.Flags().SortFlags = false
		cmd.AddCommand(c)
		return c
	}
	sub("init", "make your age key and print its public key", secretsInit)
	enc := sub("encrypt [-r KEY]... FILE", "encrypt every string value of FILE, in place (-r KEY: the recipients of a file that names none)", secretsEncrypt)
	enc.Flags().StringArrayP("recipient", "r", nil, "a recipient (age1..., an SSH public key, or a file of them such as ~/.ssh/id_ed25519.pub), for a file that names none; repeatable (default: your age key)")
	dec := sub("decrypt [--in-place] FILE", "print FILE decrypted (--in-place: write it decrypted)", secretsDecrypt)
	dec.Flags().Bool("in-place", false, "write FILE decrypted (mode 0600), instead of printing it: its values are then plain text on disk")
	sub("edit FILE", "edit FILE decrypted in $EDITOR; what changed is encrypted", secretsEdit)
	set := sub("set [-r KEY]... FILE NAME < value", "set NAME (a/b: b inside a) to the value on standard input", secretsSet)
	set.Flags().StringArrayP("recipient", "r", nil, "a recipient, for a file that names none (default: your age key); repeatable")
	rekey := sub("rekey [--add KEY]... [--remove KEY]... FILE", "--add KEY, --remove KEY: change who can read FILE", secretsRekey)
	rekey.Flags().StringArray("add", nil, "a recipient to add: age1..., an SSH public key, or a file of them (~/.ssh/id_ed25519.pub); repeatable")
	rekey.Flags().StringArray("remove", nil, "a recipient to remove: the key as written, or an SSH key's SHA256:... fingerprint; repeatable")
	show := sub("show [--reveal] FILE", "the recipients and names, never the values (--reveal: them too)", secretsShow)
	show.Flags().Bool("reveal", false, "print the values too, decrypted (as secrets decrypt does)")
	sub("rotate FILE NAME...", "retire each NAME's value to NAME_previous, so that the next apply makes a new one", secretsRotate)
	return cmd
}

// parentCommand runs a command that only groups others (secrets, lab):
// alone, it shows its help and fails, as runbook alone does.
func parentCommand(e *env, cmd *cobra.Command, args []string) int {
	if len(args) == 0 {
		cmd.SetOut(e.stderr)
		_ = cmd.Help()
		return ExitError
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	return e.usagef(cmd, "unknown %s command %q%s", cmd.Name(), args[0], decode.Suggest(args[0], names))
}

func secretsInit(_ context.Context, e *env, _ *cobra.Command, pos []string) int {
	if len(pos) != 0 {
		return e.errorf("secrets init takes no arguments: it makes the key $%s names, else ~/.config/runbook/age.key", agevars.EnvKeyFile)
	}
	path, err := agevars.KeyFile()
	if err != nil {
		return e.errorf("%v", err)
	}
	pub, err := agevars.Init(path)
	if errors.Is(err, agevars.ErrKeyExists) {
		msg := fmt.Sprintf("%s is already there, and runbook never replaces a key (what is encrypted to it could no longer be read)", path)
		if p, err := agevars.PublicKey(path); err == nil {
			msg += "; its public key is " + p
		}
		return e.errorf("%s", msg)
	}
	if err != nil {
		return e.errorf("%v", err)
	}
	fmt.Fprintf(e.stderr, "made the age key %s (keep it: without it, what is encrypted to it cannot be read); its public key, to give to whoever encrypts for you:\n", path)
	fmt.Fprintln(e.stdout, pub)
	return ExitOK
}

// recipientFlags reads -r/--recipient values.
func recipientFlags(args []string) ([]*agevars.Recipient, error) {
	var out []*agevars.Recipient
	for _, a := range args {
		rs, err := agevars.ReadRecipients(a)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// ownRecipients are the public keys of the user's age keys, the
// recipients of a file that names none.
func ownRecipients() []*agevars.Recipient {
	ids, err := agevars.LoadIdentities()
	if err != nil {
		return nil
	}
	return ids.Own()
}

// change runs fn on the file at path under its lock, and writes what fn
// returns (nil: nothing to write). A missing file is an empty one when
// create is set.
func change(path string, create bool, fn func(f *agevars.File) ([]byte, error)) error {
	unlock, err := agevars.Lock(path)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := agevars.Read(path)
	if create && errors.Is(err, os.ErrNotExist) {
		f, err = agevars.Parse(path, nil)
	}
	if err != nil {
		return err
	}
	out, err := fn(f)
	if err != nil || out == nil {
		return err
	}
	return agevars.WriteFile(path, out)
}

func secretsEncrypt(_ context.Context, e *env, cmd *cobra.Command, pos []string) int {
	rflags, _ := cmd.Flags().GetStringArray("recipient")
	if len(pos) != 1 {
		return e.errorf("secrets encrypt: want one FILE")
	}
	rs, err := recipientFlags(rflags)
	if err != nil {
		return e.errorf("secrets encrypt: %v", err)
	}
	var n int
	var to []*agevars.Recipient
	err = change(pos[0], false, func(f *agevars.File) ([]byte, error) {
		if f.Recipients == nil && len(rs) == 0 {
			rs = ownRecipients()
		}
		out, changed, err := f.Encrypt(rs)
		n, to = changed, f.Recipients
		if to == nil {
			to = rs
		}
		if err == nil && bytes.Equal(out, f.Text()) {
			return nil, nil
		}
		return out, err
	})
	if err != nil {
		return e.errorf("%v", err)
	}
	values := "values"
	if n == 1 {
		values = "value"
	}
	fmt.Fprintf(e.stderr, "%s: %d %s encrypted, for %s\n", pos[0], n, values, describe(to))
	return ExitOK
}

func describe(rs []*agevars.Recipient) string {
	names := make([]string, len(rs))
	for i, r := range rs {
		names[i] = r.String()
	}
	return strings.Join(names, ", ")
}

func secretsDecrypt(_ context.Context, e *env, cmd *cobra.Command, pos []string) int {
	inPlace, _ := cmd.Flags().GetBool("in-place")
	if len(pos) != 1 {
		return e.errorf("secrets decrypt: want one FILE")
	}
	ids, err := agevars.LoadIdentities()
	if err != nil {
		return e.errorf("%v", err)
	}
	if !inPlace {
		f, err := agevars.Read(pos[0])
		if err != nil {
			return e.errorf("%v", err)
		}
		out, err := f.Plain(ids)
		if err != nil {
			return e.errorf("%v", err)
		}
		e.stdout.Write(out)
		return ExitOK
	}
	err = change(pos[0], false, func(f *agevars.File) ([]byte, error) { return f.Plain(ids) })
	if err != nil {
		return e.errorf("%v", err)
	}
	fmt.Fprintf(e.stderr, "%s: decrypted in place; its values are plain text on disk until `runbook secrets encrypt %s`\n", pos[0], pos[0])
	return ExitOK
}

func secretsSet(_ context.Context, e *env, cmd *cobra.Command, pos []string) int {
	rflags, _ := cmd.Flags().GetStringArray("recipient")
	if len(pos) != 2 {
		return e.errorf("secrets set: want FILE NAME, and the value on standard input (never on the command line, where ps and shell history would show it)")
	}
	file, name := pos[0], pos[1]
	path := strings.Split(name, "/")
	for _, p := range path {
		if p == "" {
			return e.errorf("secrets set: name %s: an empty part", decode.Quote(name))
		}
	}
	switch {
	case !tmpl.ValidName(path[0]):
		return e.errorf("secrets set: %s is no variable name: use letters, digits and _ only, starting with a letter or _ (a/b names b inside a)", decode.Quote(path[0]))
	case tmpl.IsReserved(path[0]):
		return e.errorf("secrets set: %s is reserved (runbook sets %s)", decode.Quote(path[0]), strings.Join(tmpl.Reserved, ", "))
	}
	rs, err := recipientFlags(rflags)
	if err != nil {
		return e.errorf("secrets set: %v", err)
	}
	value, err := readValue(e, name)
	if err != nil {
		return e.errorf("secrets set %s %s: %v", file, name, err)
	}
	ids, err := agevars.LoadIdentities()
	if err != nil {
		return e.errorf("%v", err)
	}
	if len(rs) == 0 {
		rs = ids.Own()
	}
	unchanged := false
	err = change(file, true, func(f *agevars.File) ([]byte, error) {
		out, err := f.Set(ids, path, value, rs)
		if errors.Is(err, agevars.ErrUnchanged) {
			unchanged = true
			return nil, nil
		}
		return out, err
	})
	if err != nil {
		return e.errorf("%v", err)
	}
	if unchanged {
		fmt.Fprintf(e.stderr, "%s: %s already holds that value\n", file, name)
	} else {
		fmt.Fprintf(e.stderr, "%s: %s set (encrypted)\n", file, name)
	}
	return ExitOK
}

// readValue reads a value from standard input: from a terminal without
// echo, one line; from a pipe or file, all of it, less one final newline
// (as `echo` and most editors add).
func readValue(e *env, name string) (string, error) {
	if f, ok := e.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(e.stderr, "value of %s (not shown): ", name)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(e.stderr)
		if err != nil {
			return "", fmt.Errorf("read the value: %w", err)
		}
		if len(b) == 0 {
			return "", errors.New("no value typed")
		}
		return string(b), nil
	}
	b, err := io.ReadAll(io.LimitReader(e.stdin, decode.MaxFile+1))
	if err != nil {
		return "", fmt.Errorf("read the value from standard input: %w", err)
	}
	if len(b) > decode.MaxFile {
		return "", fmt.Errorf("the value on standard input is larger than %d MiB", decode.MaxFile>>20)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", errors.New("no value on standard input: pipe it in (runbook secrets set FILE NAME < file), so that it is never on the command line")
	}
	return s, nil
}

func secretsRekey(_ context.Context, e *env, cmd *cobra.Command, pos []string) int {
	add, _ := cmd.Flags().GetStringArray("add")
	remove, _ := cmd.Flags().GetStringArray("remove")
	if len(pos) != 1 {
		return e.errorf("secrets rekey: want one FILE")
	}
	if len(add)+len(remove) == 0 {
		return e.errorf("secrets rekey: say whom to --add or --remove")
	}
	rs, err := recipientFlags(add)
	if err != nil {
		return e.errorf("secrets rekey: %v", err)
	}
	ids, err := agevars.LoadIdentities()
	if err != nil {
		return e.errorf("%v", err)
	}
	var now []*agevars.Recipient
	err = change(pos[0], false, func(f *agevars.File) ([]byte, error) {
		out, to, err := f.Rekey(ids, rs, remove)
		now = to
		return out, err
	})
	if err != nil {
		return e.errorf("%v", err)
	}
	fmt.Fprintf(e.stderr, "%s: every value encrypted anew, for %s\n", pos[0], describe(now))
	if len(remove) > 0 {
		fmt.Fprintln(e.stderr, "A removed recipient can still read the values they could before (version control keeps them): change those secrets.")
	}
	return ExitOK
}

func secretsShow(_ context.Context, e *env, cmd *cobra.Command, pos []string) int {
	reveal, _ := cmd.Flags().GetBool("reveal")
	if len(pos) != 1 {
		return e.errorf("secrets show: want one FILE")
	}
	f, err := agevars.Read(pos[0])
	if err != nil {
		return e.errorf("%v", err)
	}
	if reveal {
		ids, err := agevars.LoadIdentities()
		if err != nil {
			return e.errorf("%v", err)
		}
		out, err := f.Plain(ids)
		if err != nil {
			return e.errorf("%v", err)
		}
		e.stdout.Write(out)
		return ExitOK
	}
	fmt.Fprintf(e.stdout, "%s\n", output.Escape(pos[0]))
	if f.Recipients == nil {
		fmt.Fprintln(e.stdout, "recipients: none named")
	} else {
		fmt.Fprintln(e.stdout, "recipients:")
		for _, r := range f.Recipients {
			fmt.Fprintf(e.stdout, "  %s\n", output.Escape(r.String()))
		}
	}
	fmt.Fprintln(e.stdout, "values:")
	w := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', 0)
	for _, n := range f.Names() {
		fmt.Fprintf(w, "  %s\t%s\n", output.Escape(n.Name), n.State)
	}
	w.Flush()
	return ExitOK
}
