// Package all compiles in every task module that ships with runbook.
package all

import (
	_ "github.com/runbookdev/runbook/tasks/command"
	_ "github.com/runbookdev/runbook/tasks/file"
)
