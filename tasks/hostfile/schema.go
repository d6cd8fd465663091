package hostfile

// JSONSchema describes a mode as UnmarshalYAML reads it, for `runbook
// schema`: digits read as octal, with or without a leading 0 or 0o.
func (Mode) JSONSchema() map[string]any {
	return map[string]any{
		"description": "octal permissions such as 0644",
		"anyOf": []any{
			map[string]any{"type": "integer", "minimum": 0, "maximum": 7777},
			map[string]any{"type": "string", "pattern": "^(0o)?0?[0-7]{1,4}$"},
		},
	}
}
