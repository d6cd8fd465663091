package cli

import (
	"fmt"
	"slices"
	"strings"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// list is a flag that can be repeated and takes comma-separated values.
type list []string

func (l *list) String() string { return strings.Join(*l, ",") }
func (l *list) Type() string   { return "list" }
func (l *list) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// groupKey annotates a flag with the heading it is listed under in help.
const groupKey = "runbook_group"

// group lists the named flags of fs under heading in help, in the order
// they were defined.
func group(fs *pflag.FlagSet, heading string, names ...string) {
	for _, n := range names {
		if err := fs.SetAnnotation(n, groupKey, []string{heading}); err != nil {
			panic(err) // a flag named here and never defined: a bug
		}
	}
}

// usageError is a command line that pflag or cobra could not take.
type usageError struct {
	err error
	cmd *cobra.Command
}

func (u *usageError) Error() string { return u.err.Error() }
func (u *usageError) Unwrap() error { return u.err }

// message is the error in a line, with a suggestion for a mistyped flag,
// and without the name of the Go function that read a value.
func (u *usageError) message() string {
	msg := u.err.Error()
	if i := strings.Index(msg, "strconv.Parse"); i >= 0 {
		return msg[:i] + "want a whole number"
	}
	if i := strings.Index(msg, "time: invalid duration"); i >= 0 {
		return msg[:i] + "want a duration such as 30s or 5m"
	}
	name, ok := strings.CutPrefix(msg, "unknown flag: --")
	if !ok || u.cmd == nil {
		return msg
	}
	var names []string
	u.cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	if s := decode.Suggest(name, names); s != "" {
		return fmt.Sprintf("%s; did you mean --%s?", msg, strings.Trim(strings.TrimPrefix(s, "; did you mean "), `"?`))
	}
	return msg
}

// oneDashLong rewrites -name and -name=value to --name, for each long flag
// of the command args run: Go's flag package, which runbook's command line
// used before, took both, and pflag would read -limit as -l imit. The
// values of flags are left as they are.
func oneDashLong(root *cobra.Command, args []string) []string {
	cmd, _, err := root.Find(args)
	if err != nil || cmd == nil {
		cmd = root
	}
	fs := cmd.Flags()
	out := slices.Clone(args)
	takesValue := func(f *pflag.Flag) bool { return f != nil && f.NoOptDefVal == "" }
	for i := 0; i < len(out); i++ {
		a := out[i]
		switch {
		case a == "--":
			return out
		case strings.HasPrefix(a, "--"):
			name, _, inline := strings.Cut(a[2:], "=")
			if !inline && takesValue(fs.Lookup(name)) {
				i++
			}
		case len(a) > 2 && a[0] == '-':
			name, _, inline := strings.Cut(a[1:], "=")
			if f := fs.Lookup(name); f != nil && len(name) > 1 {
				out[i] = "-" + a
				if !inline && takesValue(f) {
					i++
				}
				continue
			}
			i += clusterTakesNext(fs, a[1:])
		case len(a) == 2 && a[0] == '-':
			if takesValue(fs.ShorthandLookup(a[1:])) {
				i++
			}
		}
	}
	return out
}

// clusterTakesNext says whether the shorthand flags in -abc take the next
// argument as a value (1) or not (0): as pflag reads them, the first that
// takes a value takes the rest of the cluster, or the next argument when
// it is last.
func clusterTakesNext(fs *pflag.FlagSet, shorts string) int {
	for j := 0; j < len(shorts); j++ {
		f := fs.ShorthandLookup(shorts[j : j+1])
		if f == nil {
			return 0
		}
		if f.NoOptDefVal == "" {
			if j == len(shorts)-1 {
				return 1
			}
			return 0
		}
	}
	return 0
}
