package cli

import (
	"context"
	"fmt"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/spf13/cobra"
)

func init() {
	// Commands are listed in the order they are added: the most used first.
	cobra.EnableCommandSorting = false
}

// newRoot builds runbook's command tree, writing to e.
func newRoot(e *env) *cobra.Command {
	root := &cobra.Command{
		Use:         "runbook",
		Short:       "converge fleets of hosts to declarative runbooks over SSH",
		Long:        "runbook converges fleets of hosts to declarative, ordered runbooks over SSH.",
		Version:     Version,
		Annotations: map[string]string{"footer": "Run 'runbook COMMAND --help' for a command's flags, 'runbook help TOPIC' for a topic.\n" + exitCodes},
		// Errors are runbook's to print: one line and a hint (see Run).
		SilenceErrors: true,
		SilenceUsage:  true,
		// Any argument reaches RunE, which names an unknown command.
		Args: cobra.ArbitraryArgs,
		RunE: e.run(func(_ context.Context, cmd *cobra.Command, args []string) int {
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
			return e.usagef(cmd, "unknown command %q%s", args[0], decode.Suggest(args[0], names))
		}),
	}
	// No -v for --version: -v is verbose, as in ansible-playbook.
	root.Flags().Bool("version", false, "print runbook's version")
	root.SetVersionTemplate("runbook {{.Version}}\n")
	root.SetHelpCommand(newHelpCmd(e))
	root.SetIn(e.stdin)
	root.SetOut(e.stdout)
	root.SetErr(e.stderr)
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error {
		return &usageError{err: err, cmd: cmd}
	})
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { writeHelp(cmd.OutOrStdout(), cmd) })
	root.SetUsageFunc(func(cmd *cobra.Command) error {
		writeHelp(cmd.OutOrStderr(), cmd)
		return nil
	})
	root.AddCommand(
		newApplyCmd(e),
		newRunCmd(e),
		newValidateCmd(e),
		newInventoryCmd(e),
		newTasksCmd(e),
		newSecretsCmd(e),
		newSchemaCmd(e),
		newLabCmd(e),
	)
	root.AddCommand(topics()...)
	root.AddCommand(
		&cobra.Command{
			Use:   "version",
			Short: "print runbook's version",
			RunE: e.run(func(context.Context, *cobra.Command, []string) int {
				fmt.Fprintf(e.stdout, "runbook %s\n", Version)
				return ExitOK
			}),
		},
	)
	// cobra's own completion command, said as the others are.
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "completion" {
			c.Short = "shell completion for bash, zsh or fish: runbook files, host patterns, tags, modules"
		}
	}
	return root
}
