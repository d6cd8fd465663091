package cli

import (
	"context"

	"github.com/runbookdev/runbook/internal/schema"
)

// runSchema writes the JSON Schema of runbooks, for editors: the source
// of docs/runbook.schema.json.
func runSchema(_ context.Context, e *env, args []string) int {
	fs := newFlags(e, "schema", "> runbook.schema.json")
	pos, code, ok := parseOrExit(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		fs.Usage()
		return e.errorf("schema takes no arguments: it writes the schema to standard output")
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
