package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// helpWidth is where help text is wrapped.
const helpWidth = 80

// writeHelp writes a command's help as operators know it from
// ansible-playbook and terraform: what it does, how it is called,
// examples, and its flags under headings.
func writeHelp(w io.Writer, cmd *cobra.Command) {
	var b strings.Builder
	desc := cmd.Long
	if desc == "" {
		desc = cmd.Short
	}
	b.WriteString(strings.TrimSpace(desc) + "\n")
	switch {
	case cmd.HasAvailableSubCommands():
		fmt.Fprintf(&b, "\nUsage:\n  %s COMMAND [flags] [args]\n", cmd.CommandPath())
	case cmd.Runnable():
		fmt.Fprintf(&b, "\nUsage:\n  %s\n", cmd.UseLine())
	}
	if cmd.Example != "" {
		fmt.Fprintf(&b, "\nExamples:\n%s\n", strings.TrimRight(cmd.Example, "\n"))
	}
	var cmds, topics []*cobra.Command
	for _, c := range cmd.Commands() {
		switch {
		case c.IsAvailableCommand():
			cmds = append(cmds, c)
		case c.IsAdditionalHelpTopicCommand():
			topics = append(topics, c)
		}
	}
	listCommands(&b, "Commands", cmds)
	listCommands(&b, fmt.Sprintf("Help topics (%s help TOPIC)", cmd.Root().Name()), topics)
	writeFlags(&b, cmd.Flags())
	if f := cmd.Annotations["footer"]; f != "" {
		fmt.Fprintf(&b, "\n%s\n", strings.TrimSpace(f))
	}
	_, _ = io.WriteString(w, b.String())
}

func listCommands(b *strings.Builder, heading string, cmds []*cobra.Command) {
	if len(cmds) == 0 {
		return
	}
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.Name()))
	}
	fmt.Fprintf(b, "\n%s:\n", heading)
	for _, c := range cmds {
		fmt.Fprintf(b, "  %-*s  %s\n", width, c.Name(), wrapText(c.Short, width+4))
	}
}

// writeFlags lists flags under their group's heading (see group), in the
// order the groups first appear; the others under "Flags".
func writeFlags(b *strings.Builder, fs *pflag.FlagSet) {
	type row struct{ left, usage string }
	var order []string
	rows := map[string][]row{}
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden || f.Name == "help" {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" {
			left = fmt.Sprintf("  -%s, --%s", f.Shorthand, f.Name)
		}
		name, usage := pflag.UnquoteUsage(f)
		if f.Value.Type() == "count" {
			name = ""
		}
		if name != "" {
			left += " " + name
		}
		if def := f.DefValue; def != "" && def != "0" && def != "false" && def != "[]" && f.Value.Type() != "count" {
			usage += fmt.Sprintf(" (default %s)", def)
		}
		heading := "Flags"
		if g := f.Annotations[groupKey]; len(g) > 0 {
			heading = g[0]
		}
		if _, ok := rows[heading]; !ok {
			order = append(order, heading)
		}
		rows[heading] = append(rows[heading], row{left, usage})
		width = max(width, len(left))
	})
	width = min(width, 34)
	for _, h := range order {
		fmt.Fprintf(b, "\n%s:\n", h)
		for _, r := range rows[h] {
			if len(r.left) > width {
				fmt.Fprintf(b, "%s\n%s", r.left, strings.Repeat(" ", width+2))
			} else {
				fmt.Fprintf(b, "%-*s  ", width, r.left)
			}
			fmt.Fprintf(b, "%s\n", wrapText(r.usage, width+2))
		}
	}
}

// wrapText wraps s at helpWidth, its lines after the first indented by
// indent.
func wrapText(s string, indent int) string {
	var out, line strings.Builder
	for _, word := range strings.Fields(s) {
		if line.Len() > 0 && indent+line.Len()+1+len(word) > helpWidth {
			out.WriteString(line.String() + "\n" + strings.Repeat(" ", indent))
			line.Reset()
		}
		if line.Len() > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(word)
	}
	out.WriteString(line.String())
	return out.String()
}
