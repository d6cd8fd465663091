package cli

import (
	"context"

	"github.com/runbookdev/runbook/internal/schema"
	"github.com/spf13/cobra"
)

func newSchemaCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "schema > runbook.schema.json",
		Short: "write the JSON Schema of runbooks and every module's parameters, for editors",
		// It has no flags of its own.
		DisableFlagsInUseLine: true,
		RunE: e.run(func(_ context.Context, cmd *cobra.Command, args []string) int {
			return runSchema(e, cmd, args)
		}),
	}
}

// runSchema writes the JSON Schema of runbooks, for editors: the source
// of docs/runbook.schema.json.
func runSchema(e *env, cmd *cobra.Command, args []string) int {
	if len(args) > 0 {
		return e.usagef(cmd, "schema takes no arguments: it writes the schema to standard output")
	}
	b, err := schema.JSON()
	if err != nil {
		return e.errorf("write the runbook schema: %v", err)
	}
	if _, err := e.stdout.Write(b); err != nil {
		return e.errorf("write the runbook schema: %v", err)
	}
	return ExitOK
}
