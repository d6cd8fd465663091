package cli

import (
	"context"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/spf13/cobra"
)

// topics are `runbook help TOPIC`: what several commands share.
func topics() []*cobra.Command {
	topic := func(name, short, long string) *cobra.Command {
		return &cobra.Command{Use: name, Short: short, Long: long}
	}
	return []*cobra.Command{
		topic("patterns", "host patterns: hosts:, --limit, runbook run PATTERN", `Host patterns choose hosts, as Ansible's do, in a step's hosts:, in
--limit (-l) and in runbook run PATTERN:

  all            every host
  web            a group, or a host
  web*           a glob over host and group names
  web:db         union (also web,db)
  web:&prod      intersection: hosts in both
  all:!db        exclusion
  local          the controller itself, unless the inventory has a host so named

Every term must match a host or a group: all:!dbb is an error (no host or
group "dbb"; did you mean "db"?), not a run on the db hosts.`),
		topic("extra-vars", "-e: variables from the command line", `-e (--extra-vars) sets variables over every other source but what steps
register; it may be given again, later ones winning:

  -e version=1.2                 key=value, typed as in YAML (count=3 is a number)
  -e "version=1.2 env=prod"      several pairs, as ansible-playbook takes them
  -e 'motd="hello world"'        quotes for values with spaces; quoted stays a string
  -e '{"ports": [80, 443]}'      a YAML or JSON mapping
  -e @vars.yaml                  a file; the only place for !secret values

A value marked !secret on the command line is refused: every local user
can read runbook's arguments (ps), and the shell keeps them.`),
		topic("exit-codes", "what runbook's exit codes mean", `  0  success; with --check, nothing would change
  1  bad input, a failed or unreachable host, or an interrupted run
  2  with --check: something would change (drift), as Terraform's
     -detailed-exitcode`),
		topic("environment", "environment variables runbook reads", `  RUNBOOK_KNOWN_HOSTS    a known_hosts file read before ~/.ssh/known_hosts
  RUNBOOK_AGE_KEY_FILE   the age key that decrypts secrets (else ~/.config/runbook/age.key)
  NO_COLOR               no colours in text output, even on a terminal
  EDITOR                 the editor of runbook secrets edit
  METAL_API_URL, METAL_AUTH_TOKEN, METAL_PROJECT_ID
                         the Equinix Metal inventory's API, as the metal CLI reads them`),
	}
}

// newHelpCmd is `runbook help [COMMAND | TOPIC]`.
func newHelpCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "help [COMMAND | TOPIC]",
		Short: "help about a command or a topic",
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, c := range cmd.Root().Commands() {
				if c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() {
					out = append(out, cobra.CompletionWithDesc(c.Name(), c.Short))
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: e.run(func(_ context.Context, cmd *cobra.Command, args []string) int {
			root := cmd.Root()
			found, rest, err := root.Find(args)
			if err != nil || len(rest) > 0 {
				unknown := args[len(args)-1]
				if len(rest) > 0 {
					unknown = rest[0]
				}
				var names []string
				for _, c := range found.Commands() {
					names = append(names, c.Name())
				}
				return e.usagef(root, "no command or help topic %q%s", unknown, decode.Suggest(unknown, names))
			}
			found.InitDefaultHelpFlag()
			writeHelp(e.stdout, found)
			return ExitOK
		}),
	}
}
