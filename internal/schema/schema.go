// Package schema writes a JSON Schema of the runbook format, with the
// parameters of every registered module, so that editors using
// yaml-language-server (VS Code's YAML extension, Neovim, Helix, ...)
// complete and check runbooks as they are written.
//
// It is draft-07: the draft yaml-language-server and VS Code's JSON
// service support fully (later drafts only in part), and draft-07 has
// everything this schema needs (if/then/else, const, propertyNames).
//
// Everything is read from the code: the keys from the structs and lists
// the loader decodes with (runbook.StepFields, ImportKeys, ...), module
// parameters from the registry and their structs' doc tags. What the code
// cannot say (a step key's description, the special shapes of a few keys)
// is here, and a key the loader reads that this package does not know is
// an error, not a silent gap.
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"time"

	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/runbook"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
	"github.com/runbookdev/runbook/tasks"
	"gopkg.in/yaml.v3"
)

// Draft is the JSON Schema draft the schema is written in.
const Draft = "http://json-schema.org/draft-07/schema#"

type object = map[string]any

// Describer is a type that reads YAML its own way (a yaml.Unmarshaler)
// and says what it accepts.
type Describer interface {
	JSONSchema() map[string]any
}

// JSON is the schema, indented, as docs/runbook.schema.json holds it.
func JSON() ([]byte, error) {
	s, err := Runbook()
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("encode the runbook schema: %w", err)
	}
	return buf.Bytes(), nil
}

// Runbook is the schema of a runbook file.
func Runbook() (map[string]any, error) {
	keys, err := keySchemas()
	if err != nil {
		return nil, err
	}
	top := object{}
	var required []string
	for _, f := range runbook.RunbookFields() {
		p, err := keySchema(f, runbookDocs, "runbook")
		if err != nil {
			return nil, err
		}
		top[f.Name] = p
		if f.Required {
			required = append(required, f.Name)
		}
	}
	defs := object{
		"step":       stepSchema(keys),
		"taskStep":   kindSchema(keys, runbook.TaskStepKeys(), "task", "task step"),
		"importStep": kindSchema(keys, runbook.ImportKeys(), "import", "import step"),
		"blockStep":  kindSchema(keys, runbook.BlockKeys(), "block", "block step"),
		"template":   template,
		"vars":       vars(),
	}
	var branches []any
	for _, name := range tasks.Names() {
		m, _ := tasks.Lookup(name)
		with, err := moduleSchema(m)
		if err != nil {
			return nil, err
		}
		defs["task."+name] = with
		then := object{"properties": object{"with": ref("task." + name)}}
		if hasRequired(m) {
			then["required"] = []string{"with"}
		}
		branches = append(branches, object{
			"if":   object{"properties": object{"task": object{"const": name}}, "required": []string{"task"}},
			"then": then,
		})
	}
	defs["taskStep"].(object)["allOf"] = branches
	return object{
		"$schema":              Draft,
		"title":                "runbook",
		"description":          "A runbook: ordered steps that converge hosts, run with `runbook apply`. Written by `runbook schema`.",
		"type":                 "object",
		"properties":           top,
		"required":             required,
		"additionalProperties": false,
		"definitions":          defs,
	}, nil
}

// stepSchema picks the kind of step as the loader does: import, then
// block (or its rescue or always), else a task. Its own properties are
// only there for completion: they offer import and block on a new step,
// whose keys are a task step's until one of them is written.
func stepSchema(keys map[string]object) object {
	props := object{}
	for _, k := range []string{"import", "block", "rescue", "always"} {
		props[k] = object{"description": keys[k]["description"]}
	}
	return object{
		"type":       "object",
		"properties": props,
		"if":         object{"type": "object", "required": []string{"import"}},
		"then":       ref("importStep"),
		"else": object{
			"if":   object{"type": "object", "anyOf": []any{object{"required": []string{"block"}}, object{"required": []string{"rescue"}}, object{"required": []string{"always"}}}},
			"then": ref("blockStep"),
			"else": ref("taskStep"),
		},
	}
}

// kindSchema is a kind of step; its title is what editors call it when
// they offer to insert one.
func kindSchema(keys map[string]object, names []string, required, title string) object {
	props := object{}
	for _, k := range names {
		props[k] = keys[k]
	}
	return object{
		"title":                title,
		"type":                 "object",
		"properties":           props,
		"required":             []string{required},
		"additionalProperties": false,
	}
}

// keySchemas describes every step key.
func keySchemas() (map[string]object, error) {
	out := map[string]object{}
	for _, f := range runbook.StepFields() {
		s, err := keySchema(f, stepDocs, "step")
		if err != nil {
			return nil, err
		}
		out[f.Name] = s
	}
	return out, nil
}

func keySchema(f decode.Field, docs map[string]string, where string) (object, error) {
	doc, ok := docs[f.Name]
	if !ok {
		return nil, fmt.Errorf("%s key %q has no description: add it to internal/schema's %sDocs", where, f.Name, where)
	}
	s, ok := special(f.Name)
	if !ok {
		var err error
		if s, err = typeSchema(f.Type, false); err != nil {
			return nil, fmt.Errorf("%s key %q: %w", where, f.Name, err)
		}
	}
	return set(s, "description", doc), nil
}

// special are the keys whose shape their Go type does not say: a node
// read by hand, or a string checked against a list or a syntax.
func special(key string) (object, bool) {
	steps := object{"type": "array", "items": ref("step")}
	switch key {
	case "steps":
		return set(steps, "minItems", 1), true
	case "block", "rescue", "always":
		return object{"anyOf": []any{steps, object{"type": "null"}}}, true
	case "handlers":
		return object{"anyOf": []any{object{"type": "array", "items": ref("taskStep")}, object{"type": "null"}}}, true
	case "vars":
		return ref("vars"), true
	case "with":
		return object{"type": []string{"object", "null"}}, true
	case "task":
		var names, docs []string
		for _, n := range tasks.Names() {
			m, _ := tasks.Lookup(n)
			names, docs = append(names, n), append(docs, m.Doc)
		}
		return object{"type": "string", "enum": names, "markdownEnumDescriptions": docs}, true
	case "loop":
		return object{"anyOf": []any{object{"type": "array"}, object{"type": "object"}, ref("template")}}, true
	case "register", "loop_var":
		return varName(), true
	case "order":
		return object{"anyOf": []any{object{"type": "string", "enum": runbook.Orders}, ref("template")}}, true
	case "become_method":
		return object{"type": "string", "enum": inventory.BecomeMethods}, true
	case "retries", "throttle":
		return object{"type": []string{"integer", "null"}, "minimum": 0}, true
	case "max_fail_percentage":
		return object{"type": []string{"number", "null"}, "minimum": 0, "maximum": 100}, true
	}
	return nil, false
}

// template is a string holding a template: it stands for a value of any
// type, known once rendered.
var template = object{"type": "string", "pattern": `\{\{`, "description": "a template, rendered per host"}

func vars() object {
	return object{
		"type":                 []string{"object", "null"},
		"description":          "variables, by name; a value tagged !secret is hidden from all output",
		"propertyNames":        varName(),
		"additionalProperties": true,
	}
}

func varName() object {
	return object{
		"type":    "string",
		"pattern": `^[A-Za-z_][A-Za-z0-9_]*$`,
		"not":     object{"enum": tmpl.Reserved},
	}
}

// moduleSchema describes a module's `with:`.
func moduleSchema(m tasks.Module) (object, error) {
	s, err := structSchema(reflect.TypeOf(m.New()).Elem(), true)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", m.Name, err)
	}
	s["title"], s["description"] = m.Name+" parameters", m.Doc
	if !hasRequired(m) {
		s["type"] = []string{"object", "null"}
	}
	return s, nil
}

func hasRequired(m tasks.Module) bool {
	return slices.ContainsFunc(m.Params(), func(p tasks.Param) bool { return p.Required })
}

func structSchema(t reflect.Type, templates bool) (object, error) {
	props := object{}
	var required []string
	for _, f := range decode.Fields(t) {
		s, err := typeSchema(f.Type, templates)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		if f.Doc != "" {
			s = set(s, "description", f.Doc)
		}
		props[f.Name] = s
		if f.Required {
			required = append(required, f.Name)
		}
	}
	s := object{"type": "object", "properties": props, "additionalProperties": false}
	if len(required) > 0 {
		s["required"] = required
	}
	return s, nil
}

var (
	durationType    = reflect.TypeFor[time.Duration]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	describerType   = reflect.TypeFor[Describer]()
)

// typeSchema describes what decode.Node accepts for a value of type t.
// With templates (a module's parameters), a template stands for a value
// of any type: decode.Options.Templates.
func typeSchema(t reflect.Type, templates bool) (object, error) {
	s, err := plainSchema(t, templates)
	base := t
	for base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	if err != nil || !templates || base.Kind() == reflect.String || base.Kind() == reflect.Interface {
		return s, err
	}
	return anyOf(s, ref("template")), nil
}

func plainSchema(t reflect.Type, templates bool) (object, error) {
	if t.Kind() == reflect.Pointer {
		s, err := plainSchema(t.Elem(), templates)
		if err != nil || t.Elem().Kind() == reflect.String {
			return s, err // a string takes null already
		}
		return anyOf(s, object{"type": "null"}), nil
	}
	switch {
	case t.Implements(describerType):
		return reflect.Zero(t).Interface().(Describer).JSONSchema(), nil
	case reflect.PointerTo(t).Implements(unmarshalerType):
		return nil, fmt.Errorf("type %s reads YAML its own way: give it a JSONSchema method (schema.Describer) saying what it accepts", t)
	case t == durationType:
		return duration(), nil
	}
	switch t.Kind() {
	case reflect.Bool:
		// yaml.v3 reads YAML 1.1's words into a bool, and editors read
		// YAML 1.2, where they are strings.
		return object{"anyOf": []any{object{"type": "boolean"}, object{"type": "string", "pattern": "^(y|Y|yes|Yes|YES|on|On|ON|n|N|no|No|NO|off|Off|OFF)$"}}}, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return object{"type": "integer"}, nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return object{"type": "integer", "minimum": 0}, nil
	case reflect.Float32, reflect.Float64:
		return object{"type": "number"}, nil
	case reflect.String:
		// Any scalar reads as a string: port: 8080 is "8080".
		return object{"type": []string{"string", "number", "boolean", "null"}}, nil
	case reflect.Interface:
		return object{}, nil
	case reflect.Slice:
		return list(t, templates)
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return nil, fmt.Errorf("map key type %s: JSON Schema keys are strings", t.Key())
		}
		elem, err := typeSchema(t.Elem(), templates)
		return object{"type": []string{"object", "null"}, "additionalProperties": elem}, err
	case reflect.Struct:
		return structSchema(t, templates)
	}
	return nil, fmt.Errorf("type %s has no JSON Schema", t)
}

// list is a slice as decode reads it: a list, nothing, or one scalar
// standing for a list of one (notify: restart nginx).
func list(t reflect.Type, templates bool) (object, error) {
	elem, err := typeSchema(t.Elem(), templates)
	if err != nil {
		return nil, err
	}
	alts := []any{object{"type": "array", "items": elem}, object{"type": "null"}}
	switch k := t.Elem().Kind(); {
	case (k == reflect.Struct || k == reflect.Map || k == reflect.Slice) && !reflect.PointerTo(t.Elem()).Implements(unmarshalerType):
	default:
		alts = append(alts, elem)
		if t.Elem().Kind() != reflect.String {
			// A quoted "[1, 2]", as a rendered template gives it.
			alts = append(alts, object{"type": "string", "pattern": `^\s*\[`})
		}
	}
	return object{"anyOf": alts}, nil
}

// duration is decode's: Go's notation (90s, 1m30s) or seconds, not
// negative.
func duration() object {
	const num = `([0-9]+(\.[0-9]*)?|\.[0-9]+)`
	return object{
		"description": "a duration such as 30s, 5m or 1h30m, or a number of seconds",
		"anyOf": []any{
			object{"type": "number", "minimum": 0},
			object{"type": "string", "pattern": `^\+?(` + num + `([eE][+-]?[0-9]+)?|(` + num + `(ns|us|µs|μs|ms|s|m|h))+)$`},
		},
	}
}

func ref(def string) object { return object{"$ref": "#/definitions/" + def} }

// anyOf adds alternatives to s, flat.
func anyOf(s object, alts ...any) object {
	if _, isRef := s["$ref"]; !isRef {
		if prev, ok := s["anyOf"].([]any); ok {
			out := maps.Clone(s)
			out["anyOf"] = append(slices.Clone(prev), alts...)
			return out
		}
	}
	out := object{"anyOf": append([]any{s}, alts...)}
	if d, ok := s["description"]; ok {
		out["description"] = d
	}
	return out
}

// set is s with key set to v. Beside a $ref, draft-07 ignores other
// keywords (editors still show a description), so the $ref moves into an
// allOf.
func set(s object, key string, v any) object {
	if _, isRef := s["$ref"]; isRef && len(s) == 1 && key != "description" {
		return object{"allOf": []any{s}, key: v}
	}
	out := maps.Clone(s)
	out[key] = v
	return out
}
