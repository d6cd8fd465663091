package runbook

import (
	"reflect"
	"slices"

	"github.com/runbookdev/runbook/internal/decode"
)

// The keys the loader reads, for `runbook schema`, which describes them
// to editors: read from the same structs and lists, they cannot drift.

// RunbookFields lists the top-level keys of a runbook.
func RunbookFields() []decode.Field { return decode.Fields(reflect.TypeFor[rawRunbook]()) }

// StepFields lists every key a step may carry; which kind of step may
// carry which is ImportKeys, BlockKeys and TaskStepKeys.
func StepFields() []decode.Field { return decode.Fields(reflect.TypeFor[rawStep]()) }

// ImportKeys lists the keys an import step may carry, sorted.
func ImportKeys() []string { return sortedKeys(importOnly) }

// BlockKeys lists the keys a block step may carry, sorted.
func BlockKeys() []string { return sortedKeys(blockKeys) }

// notOnTask are the step keys a task step is refused: they belong to an
// import or a block (see step and taskGroupKeys).
var notOnTask = map[string]bool{"import": true, "vars": true, "vars_files": true, "block": true, "rescue": true, "always": true, "order": true}

// TaskStepKeys lists the keys a task step (or a handler) may carry, sorted.
func TaskStepKeys() []string {
	var out []string
	for _, f := range StepFields() {
		if !notOnTask[f.Name] {
			out = append(out, f.Name)
		}
	}
	slices.Sort(out)
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// JSONSchema describes a `serial:` entry as Batch's UnmarshalYAML reads it.
func (Batch) JSONSchema() map[string]any {
	return map[string]any{
		"description": "a number of hosts, or a percentage of them such as \"30%\"",
		"anyOf": []any{
			map[string]any{"type": "integer", "minimum": 1},
			map[string]any{"type": "string", "pattern": `^\+?0*[1-9][0-9]*$`},
			map[string]any{"type": "string", "pattern": `^\s*\+?([0-9]+(\.[0-9]*)?|\.[0-9]+)%\s*$`},
		},
	}
}
