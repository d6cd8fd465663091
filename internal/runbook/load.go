package runbook

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/decode"
	"github.com/runbookdev/runbook/internal/secret"
	"github.com/runbookdev/runbook/internal/tmpl"
	"github.com/runbookdev/runbook/inventory"
	"github.com/runbookdev/runbook/tasks"
	"gopkg.in/yaml.v3"
)

type rawRunbook struct {
	Name      string      `yaml:"name"`
	Inventory []string    `yaml:"inventory"`
	Hosts     []string    `yaml:"hosts"`
	Vars      yaml.Node   `yaml:"vars"`
	VarsFiles []string    `yaml:"vars_files"`
	Steps     []yaml.Node `yaml:"steps" required:"true"`
	Handlers  []yaml.Node `yaml:"handlers"`
	// SecretsFile, Rotate: see Runbook.
	SecretsFile string   `yaml:"secrets_file"`
	Rotate      []string `yaml:"rotate"`
}

type rawStep struct {
	Name         string        `yaml:"name"`
	Hosts        []string      `yaml:"hosts"`
	Tags         []string      `yaml:"tags"`
	When         string        `yaml:"when"`
	Task         string        `yaml:"task"`
	With         yaml.Node     `yaml:"with"`
	Register     string        `yaml:"register"`
	Retries      *int          `yaml:"retries"`
	Delay        time.Duration `yaml:"delay"`
	Until        string        `yaml:"until"`
	Timeout      time.Duration `yaml:"timeout"`
	Notify       []string      `yaml:"notify"`
	Serial       []Batch       `yaml:"serial"`
	MaxFail      *float64      `yaml:"max_fail_percentage"`
	Become       bool          `yaml:"become"`
	BecomeUser   string        `yaml:"become_user"`
	BecomeMethod string        `yaml:"become_method"`
	IgnoreErrors bool          `yaml:"ignore_errors"`
	ChangedWhen  string        `yaml:"changed_when"`
	FailedWhen   string        `yaml:"failed_when"`
	Import       string        `yaml:"import"`
	Vars         yaml.Node     `yaml:"vars"`
	VarsFiles    []string      `yaml:"vars_files"`

	// Blocks and groups: see block.go.
	Block          []yaml.Node `yaml:"block"`
	Rescue         []yaml.Node `yaml:"rescue"`
	Always         []yaml.Node `yaml:"always"`
	Order          string      `yaml:"order"`
	AnyErrorsFatal bool        `yaml:"any_errors_fatal"`
	Throttle       int         `yaml:"throttle"`

	// Loops and where a step runs: see loop.go.
	Loop       yaml.Node `yaml:"loop"`
	LoopVar    string    `yaml:"loop_var"`
	RunOnce    bool      `yaml:"run_once"`
	DelegateTo string    `yaml:"delegate_to"`
}

// importOnly are the keys an import step may carry.
var importOnly = map[string]bool{"name": true, "import": true, "vars": true, "vars_files": true, "tags": true, "when": true,
	"hosts": true, "serial": true, "order": true, "max_fail_percentage": true, "any_errors_fatal": true, "throttle": true,
	"loop": true, "loop_var": true}

// Load reads the runbook at path and every runbook it imports, and checks
// them all. Every problem found is returned at once.
func Load(path string) (*Runbook, error) {
	l := &loader{cache: map[string]*Runbook{}, varsFiles: map[string]map[string]tmpl.Var{}}
	rb := l.load(path, nil, decode.Pos{})
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	return rb, nil
}

type loader struct {
	cache     map[string]*Runbook // by absolute path
	varsFiles map[string]map[string]tmpl.Var
	errs      decode.List
}

func (l *loader) load(path string, stack []string, from decode.Pos) *Runbook {
	abs, err := filepath.Abs(path)
	if err != nil {
		l.errs.Add(decode.Errorf(from, "import %s: %w", path, err))
		return nil
	}
	for i, s := range stack {
		if s == abs {
			chain := append(append([]string{}, stack[i:]...), abs)
			for j := range chain {
				chain[j] = filepath.Base(chain[j])
			}
			l.errs.Add(decode.Errorf(from, "import cycle: %s", strings.Join(chain, " -> ")))
			return nil
		}
	}
	if rb, ok := l.cache[abs]; ok {
		return rb
	}
	data, err := decode.ReadFile(path)
	if err != nil {
		if from.File == "" {
			l.errs.Add(fmt.Errorf("read runbook: %w", err))
		} else {
			l.errs.Add(decode.Errorf(from, "import: %w", err))
		}
		return nil
	}
	rb := &Runbook{File: path, Dir: filepath.Dir(path)}
	l.cache[abs] = rb
	l.parse(rb, data, append(stack, abs))
	return rb
}

func (l *loader) parse(rb *Runbook, data []byte, stack []string) {
	doc, err := decode.Parse(rb.File, data)
	if err != nil {
		l.errs.Add(err)
		return
	}
	l.parseDoc(rb, doc, stack)
}

func (l *loader) parseDoc(rb *Runbook, doc *yaml.Node, stack []string) {
	if doc.Kind == 0 {
		l.errs.Add(decode.Errorf(decode.Pos{File: rb.File, Line: 1, Col: 1}, "empty runbook: want name, vars and steps"))
		return
	}
	var raw rawRunbook
	if err := decode.Node(rb.File, doc, &raw, decode.Options{}); err != nil {
		l.errs.Add(err)
		return
	}
	root := doc.Content[0]
	defaults := hostsEntries(rb.File, decode.Value(root, "hosts"), raw.Hosts)
	l.checkPatterns(defaults)
	rb.Name = raw.Name
	for _, inv := range raw.Inventory {
		if !filepath.IsAbs(inv) {
			inv = filepath.Join(rb.Dir, inv)
		}
		rb.Inventory = append(rb.Inventory, inv)
	}
	if f := raw.SecretsFile; f != "" {
		if decode.HasTemplate(f) {
			l.errs.Add(decode.Errorf(decode.At(rb.File, decode.Value(root, "secrets_file")), "secrets_file: %s: a path cannot be a template", decode.Quote(f)))
		} else if !filepath.IsAbs(f) {
			f = filepath.Join(rb.Dir, f)
		}
		rb.SecretsFile = f
	}
	if len(raw.Rotate) > 0 {
		at := decode.At(rb.File, decode.Value(root, "rotate"))
		switch {
		case raw.SecretsFile == "":
			l.errs.Add(decode.Errorf(at, "rotate: the runbook names no secrets_file whose secrets it would rotate: add `secrets_file: secrets.yaml`"))
		default:
			for _, name := range raw.Rotate {
				if err := agevars.CheckRotateName(name); err != nil {
					l.errs.Add(decode.Errorf(at, "rotate: %v", err))
				}
			}
		}
		rb.Rotate = raw.Rotate
	}
	vars, err := tmpl.ParseVars(rb.File, &raw.Vars)
	l.errs.Add(err)
	rb.Vars = l.withVarsFiles(rb.File, rb.Dir, root, raw.VarsFiles, vars)
	handlers := map[string]*Step{}
	for i := range raw.Handlers {
		h := l.step(rb, &raw.Handlers[i], patterns{}, stack, true)
		if h == nil {
			continue
		}
		if prev, dup := handlers[h.Title()]; dup {
			// notify names one: which would run?
			l.errs.Add(decode.Errorf(h.Pos, "handler %s is defined twice (also at %s): give each handler its own name", decode.Quote(h.Title()), prev.Pos))
			continue
		}
		handlers[h.Title()] = h
		rb.Handlers = append(rb.Handlers, h)
	}
	for i := range raw.Steps {
		if s := l.step(rb, &raw.Steps[i], defaults, stack, false); s != nil {
			rb.Steps = append(rb.Steps, s)
		}
	}
	if len(raw.Steps) == 0 && root.Kind == yaml.MappingNode {
		l.errs.Add(decode.Errorf(decode.At(rb.File, root), "runbook has no steps"))
	}
}

// patterns is a `hosts:` value: its entries and where each is written.
type patterns struct {
	list []string
	at   []decode.Pos
	pos  decode.Pos // the value as a whole
}

func hostsEntries(file string, n *yaml.Node, list []string) patterns {
	p := patterns{list: list, pos: decode.At(file, n)}
	for i := range list {
		switch {
		case n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content):
			p.at = append(p.at, decode.At(file, n.Content[i]))
		default:
			p.at = append(p.at, p.pos)
		}
	}
	return p
}

// checkPatterns checks the syntax of host patterns; those with templates
// are checked once rendered, when the run starts.
func (l *loader) checkPatterns(p patterns) {
	for i, pat := range p.list {
		if decode.HasTemplate(pat) {
			continue
		}
		if _, err := inventory.ParsePattern(pat); err != nil {
			l.errs.Add(decode.Errorf(p.at[i], "hosts: %s: %w", decode.Quote(pat), err))
		}
	}
}

func (l *loader) step(rb *Runbook, n *yaml.Node, defaults patterns, stack []string, handler bool) *Step {
	file := rb.File
	pos := decode.At(file, n)
	var raw rawStep
	if err := decode.Node(file, n, &raw, decode.Options{}); err != nil {
		// Keep checking what was read, so every problem is reported at once.
		l.errs.Add(err)
		if n.Kind != yaml.MappingNode {
			return nil
		}
	}
	hosts := hostsEntries(file, decode.Value(n, "hosts"), raw.Hosts)
	if decode.Value(n, "hosts") == nil {
		hosts.pos = pos
	}
	s := &Step{
		Pos: pos, Name: raw.Name, Tags: raw.Tags, When: raw.When, WhenPos: keyPos(file, n, "when"), In: rb,
	}
	if s.When != "" {
		l.errs.Add(tmpl.CheckCond(s.WhenPos, s.When))
	}
	l.loopKeys(s, &raw, n)
	if raw.Import != "" {
		if handler {
			l.errs.Add(decode.Errorf(pos, "a handler cannot import a runbook"))
			return nil
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; !importOnly[k.Value] {
				l.errs.Add(decode.Errorf(decode.At(file, k), "%s cannot be used with import (allowed: %s)", decode.Quote(k.Value), importKeyList))
			}
		}
		vars, err := tmpl.ParseVars(file, &raw.Vars)
		l.errs.Add(err)
		s.ImportVars = l.withVarsFiles(file, rb.Dir, n, raw.VarsFiles, vars)
		target := filepath.Join(rb.Dir, raw.Import)
		s.Import = l.load(target, stack, keyPos(file, n, "import"))
		if s.Import == nil {
			return nil
		}
		l.group(s, &raw, n, hosts)
		return s
	}
	if decode.Value(n, "block") != nil || decode.Value(n, "rescue") != nil || decode.Value(n, "always") != nil {
		return l.block(rb, s, &raw, n, hosts, defaults, stack, handler)
	}

	if raw.Vars.Kind != 0 {
		l.errs.Add(decode.Errorf(keyPos(file, n, "vars"), "vars belong to the runbook, an import or a block, not to a task step"))
	}
	if raw.VarsFiles != nil {
		l.errs.Add(decode.Errorf(keyPos(file, n, "vars_files"), "vars_files belong to the runbook or to an import, not to a task step"))
	}
	if raw.Task == "" {
		l.errs.Add(decode.Errorf(pos, "step %s needs task: (a module, see `runbook tasks`) or import: (a runbook)", describeStep(raw.Name)))
		return nil
	}
	mod, ok := tasks.Lookup(raw.Task)
	if !ok {
		l.errs.Add(decode.Errorf(keyPos(file, n, "task"), "unknown task %s%s: `runbook tasks` lists the modules", decode.Quote(raw.Task), decode.Suggest(raw.Task, tasks.Names())))
		return nil
	}
	s.Module = mod
	l.checkPatterns(hosts)
	if !handler && len(hosts.list) == 0 {
		hosts = defaults
	}
	if !handler && len(hosts.list) == 0 {
		l.errs.Add(decode.Errorf(pos, "step %s needs hosts: (a group, a host, all, local, or a list of them)", decode.Quote(s.Title())))
	}
	s.Hosts, s.HostsPos, s.HostsAt = hosts.list, hosts.pos, hosts.at
	s.With = &raw.With
	if raw.With.Kind == 0 {
		s.With = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: n.Line, Column: n.Column}
	}
	l.errs.Add(CheckParams(file, mod, s.With))
	l.checkStepFields(s, &raw, n)
	l.taskGroupKeys(s, &raw, n)
	return s
}

func (l *loader) checkStepFields(s *Step, raw *rawStep, n *yaml.Node) {
	file := s.In.File
	s.Register, s.Delay, s.Until, s.UntilPos = raw.Register, raw.Delay, raw.Until, keyPos(file, n, "until")
	s.Timeout, s.Notify, s.Serial, s.MaxFail = raw.Timeout, raw.Notify, raw.Serial, raw.MaxFail
	s.IgnoreErrors = raw.IgnoreErrors
	l.become(s, raw, n)
	if raw.Retries != nil {
		s.Retries = *raw.Retries
		if s.Retries < 0 {
			l.errs.Add(decode.Errorf(keyPos(file, n, "retries"), "retries must be 0 or more"))
		}
	} else if s.Until != "" {
		s.Retries = 3
	}
	if s.Until != "" {
		l.errs.Add(tmpl.CheckCond(s.UntilPos, s.Until))
	}
	if s.Register != "" && (!tmpl.ValidName(s.Register) || tmpl.IsReserved(s.Register)) {
		l.errs.Add(decode.Errorf(keyPos(file, n, "register"), "register: %s is not a usable variable name (letters, digits, _; not one of %s)", decode.Quote(s.Register), strings.Join(tmpl.Reserved, ", ")))
	}
	if s.MaxFail != nil && (*s.MaxFail < 0 || *s.MaxFail > 100) {
		l.errs.Add(decode.Errorf(keyPos(file, n, "max_fail_percentage"), "max_fail_percentage must be between 0 and 100"))
	}
	if len(s.Notify) > 0 {
		l.checkNotify(s, keyPos(file, n, "notify"))
	}
	l.checkResultControl(s, raw, n)
}

// checkNotify runs once the runbook's handlers are parsed: handlers are
// parsed before steps for this reason.
func (l *loader) checkNotify(s *Step, pos decode.Pos) {
	var names []string
	for _, h := range s.In.Handlers {
		names = append(names, h.Title())
	}
	for _, want := range s.Notify {
		found := false
		for _, name := range names {
			found = found || name == want
		}
		if !found {
			l.errs.Add(decode.Errorf(pos, "notify: no handler named %s in %s%s", decode.Quote(want), s.In.File, decode.Suggest(want, names)))
		}
	}
}

// CheckParams decodes a step's parameters into the module's struct as far
// as can be done before rendering templates, and provisions and validates
// them when they hold no templates.
func CheckParams(file string, mod tasks.Module, with *yaml.Node) error {
	var errs decode.List
	errs.Add(tmpl.CheckNode(file, with))
	t := mod.New()
	if err := decode.Node(file, with, t, decode.Options{Templates: true}); err != nil {
		errs.Add(prefixed(err, "task "+mod.Name+": "))
	}
	if errs.Len() > 0 {
		return errs.Err()
	}
	if !nodeHasTemplate(with) {
		if err := tasks.Prepare(t); err != nil {
			errs.Add(decode.Errorf(decode.At(file, with), "task %s: %w", mod.Name, err))
		}
	}
	if r, ok := t.(tasks.ControllerReader); ok {
		errs.Add(checkControllerFiles(file, mod, with, r.ControllerFiles()))
	}
	return hideSecrets(errs.Err(), decode.SecretScalars(with))
}

// hideSecrets masks the secrets in err's messages: a module's own checks
// quote the parameters they refuse.
func hideSecrets(err error, secrets []string) error {
	if err == nil || len(secrets) == 0 {
		return err
	}
	var set secret.Set
	set.Add(secrets)
	var list *decode.List
	if !errors.As(err, &list) {
		return errors.New(set.Redact(err.Error()))
	}
	var out decode.List
	for _, e := range list.Errors() {
		var pe *decode.Error
		if errors.As(e, &pe) {
			// Without its cause: the cause's message is the one that
			// holds the secret.
			e = &decode.Error{Pos: pe.Pos, Msg: set.Redact(pe.Msg)}
		} else {
			e = errors.New(set.Redact(e.Error()))
		}
		out.Add(e)
	}
	return out.Err()
}

// checkControllerFiles finds the files a task reads on the controller, and
// parses template files. A path with a template is checked when the run
// starts, once rendered.
func checkControllerFiles(file string, mod tasks.Module, with *yaml.Node, files []tasks.ControllerFile) error {
	var errs decode.List
	for _, f := range files {
		n := decode.Value(with, f.Param)
		if n == nil || f.Path == "" || decode.HasTemplate(n.Value) {
			continue
		}
		errs.Add(CheckControllerFile(decode.At(file, n), filepath.Dir(file), mod.Name, f))
	}
	return errs.Err()
}

// CheckControllerFile checks that a file a task reads on the controller is
// there, relative to dir (the runbook's directory), and parses it when it
// is a template.
func CheckControllerFile(pos decode.Pos, dir, module string, f tasks.ControllerFile) error {
	p := f.Path
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	info, err := os.Stat(filepath.Clean(p)) // a file named with a trailing slash is told below
	switch {
	case errors.Is(err, os.ErrNotExist):
		return decode.Errorf(pos, "task %s: %s: %s does not exist (%s is relative to the runbook's directory)", module, f.Param, p, f.Param)
	case err != nil:
		return decode.Errorf(pos, "task %s: %s: %w", module, f.Param, err)
	case info.IsDir() && f.Dir && !strings.HasSuffix(f.Path, "/"):
		return decode.Errorf(pos, "task %s: %s: %s is a directory: write %s/ to take the directory, or name a file", module, f.Param, p, f.Path)
	case info.IsDir() && !f.Dir:
		return decode.Errorf(pos, "task %s: %s: %s is a directory: name a file", module, f.Param, p)
	case !info.IsDir() && f.Dir && strings.HasSuffix(f.Path, "/"):
		return decode.Errorf(pos, "task %s: %s: %s is not a directory: name it without the trailing /", module, f.Param, p)
	case !f.Template || info.IsDir():
		return nil
	}
	text, err := decode.ReadFile(p)
	if err != nil {
		return decode.Errorf(pos, "task %s: %s: %w", module, f.Param, err)
	}
	if err := tmpl.CheckFile(p, string(text)); err != nil {
		// Where the mistake is, and which step reads the file.
		var de *decode.Error
		if errors.As(err, &de) {
			return decode.Errorf(de.Pos, "%s (the %s of task %s at %s)", de.Msg, f.Param, module, pos)
		}
		return decode.Errorf(pos, "task %s: %s: %w", module, f.Param, err)
	}
	return nil
}

func prefixed(err error, prefix string) error {
	var list *decode.List
	if !errors.As(err, &list) {
		return err
	}
	var out decode.List
	for _, e := range list.Errors() {
		var pe *decode.Error
		if errors.As(e, &pe) {
			e = &decode.Error{Pos: pe.Pos, Msg: prefix + pe.Msg, Err: pe.Err}
		}
		out.Add(e)
	}
	return out.Err()
}

// nodeHasTemplate reports whether n holds a template, following aliases,
// each anchor once.
func nodeHasTemplate(n *yaml.Node) bool { return decode.AnyScalar(n, decode.HasTemplate) }

// keyPos is the position of key's value in mapping n, or of n itself.
func keyPos(file string, n *yaml.Node, key string) decode.Pos {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return decode.At(file, n.Content[i+1])
		}
	}
	return decode.At(file, n)
}

func describeStep(name string) string {
	if name == "" {
		return "without a name"
	}
	return decode.Quote(name)
}
