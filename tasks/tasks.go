// Package tasks is the contract between runbook's engine and its task
// modules, and the registry of the modules compiled in.
//
// A module is a package under tasks/ that registers itself from init(). Its
// parameters are the fields of its Task struct, decoded strictly from the
// step's `with:`. The engine calls Check, which inspects the host and says
// what differs; outside check mode it then calls the change's Apply, which
// makes exactly that change. Check mode is the engine not calling Apply.
//
// In check mode, earlier steps only say what they would change. A Check
// that fails because the host is not yet as an earlier step would make it
// (the directory a file goes in, the unit a service runs, the agent a
// probe asks) wraps its error with DependsOnEarlier: where an earlier step
// would have changed the host, the engine reports the step as unknown
// (would change), and everywhere else as the failure it is. Every other
// error is a failure in check mode as in a real run. A template that reads
// a value an earlier step would have registered is handled by the engine
// the same way.
package tasks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/runbookdev/runbook/internal/decode"
)

// Task is one module's parameters, able to check a host against them.
type Task interface {
	// Check inspects the host and returns what would change. It must not
	// change the host.
	Check(ctx context.Context, h *Host) (*Change, error)
}

// Provisioner is implemented by tasks that prepare their parameters once
// decoded: default a field, compile a pattern, normalise a value. Provision
// runs before Validate.
type Provisioner interface {
	Provision() error
}

// Validator is implemented by tasks whose parameters depend on each other.
// Validate judges the task and must not change it (Provision does that).
// Both run after decoding, before any host is contacted when the
// parameters hold no templates, and again once they are rendered.
type Validator interface {
	Validate() error
}

// Prepare provisions the decoded task t, then validates it, as far as it
// implements either.
func Prepare(t Task) error {
	if p, ok := t.(Provisioner); ok {
		if err := p.Provision(); err != nil {
			return err
		}
	}
	if v, ok := t.(Validator); ok {
		return v.Validate()
	}
	return nil
}

// ControllerFile is a file on the controller that a task reads.
type ControllerFile struct {
	Param    string // the parameter that names it
	Path     string // as given: relative to the runbook's directory
	Template bool   // rendered with the host's variables
	// Dir says a directory is taken too, when Path says so with a
	// trailing slash (copy's src: files/).
	Dir bool
}

// ControllerReader is implemented by tasks that read files on the controller,
// so that a missing file, or a template file that reads a variable nobody
// defines, is reported before any host is contacted.
type ControllerReader interface {
	ControllerFiles() []ControllerFile
}

// VarReader is implemented by tasks that read a variable by its name
// rather than through a template (debug's var:), so that a name nobody
// defines is reported before any host is contacted.
type VarReader interface {
	// ReadsVars maps each parameter to the variable it names.
	ReadsVars() map[string]string
}

// OutputOnly is implemented by tasks that only tell the person running
// them something (debug): they change nothing, and cannot fail because of
// what a host is. In check mode, a step of theirs that reads what earlier
// steps only pretended to produce is reported ok, unknown, not as would
// change.
type OutputOnly interface {
	OutputOnly()
}

// Host is what a task sees of the host it runs on.
type Host struct {
	Name string
	Conn Conn
	Vars map[string]any // resolved variables, as templates see them
	Dir  string         // directory of the runbook that holds the step
	Diff bool           // the user asked for diffs: worth fetching old content
	Log  *slog.Logger
	// Facts gathers the host's facts (hostname, OS, addresses) once per
	// run, for modules that need them beyond what templates read.
	Facts func(ctx context.Context) (map[string]any, error)
	// Progress tells the person watching how a long change is going
	// ("consul01: provisioning, 12s"). It may be nil.
	Progress func(msg string)
	// Redact hides the run's secrets in s. Output is masked on its way
	// out; a task that encodes values into its output (quoting them as
	// YAML) redacts them first, as encoding may change a secret's text.
	// It may be nil.
	Redact func(s string) string
}

// Say reports progress, if anybody listens.
func (h *Host) Say(format string, args ...any) {
	if h.Progress != nil {
		h.Progress(fmt.Sprintf(format, args...))
	}
}

// Change is what Check found.
type Change struct {
	// Summary says what differs, one short line each, e.g. "mode 0644 -> 0600".
	Summary []string
	// Diff is a unified diff of content, when content differs.
	Diff string
	// Apply makes the change; nil means the host is already as asked. It
	// says what it did in its Done and never writes to the Change, which
	// the engine has already read. On error the Done's Result is still
	// registered (a command's exit code and output).
	Apply func(ctx context.Context) (Done, error)
	// Failure fails the step though Check could inspect the host, with
	// Result registered: a difference Apply will not make good (a server
	// of another plan, which runbook does not replace), or a probe's
	// answer (a read_only command's exit code). It is reported alike in
	// check mode and in a real run, where Apply first makes the rest of
	// the change (Summary says only what Apply does); failed_when may
	// judge it. Marked with DependsOnEarlier, it is unknown in check mode
	// as a Check error is.
	Failure error
	// Message is what the step tells the person running it beside what
	// differs (what debug prints): shown with the host's result, secrets
	// masked, in check mode too, and registered as msg.
	Message string
	// Result is registered (with `register:`) when Apply does not run.
	Result map[string]any
}

// Done is what Apply did.
type Done struct {
	// Summary says what was done when only doing it tells ("waited 3s for
	// port 80 to open"); nil reports the Change's Summary, as Check said.
	Summary []string
	// Result is registered (with `register:`) in place of the Change's.
	Result map[string]any
}

// Changed reports whether the host differs from what was asked.
func (c *Change) Changed() bool { return c != nil && c.Apply != nil }

// NoChange is a Change for a host that is already as asked.
func NoChange() *Change { return &Change{} }

// ErrDependsOnEarlier is what errors.Is finds in a Check error that
// DependsOnEarlier marked.
var ErrDependsOnEarlier = errors.New("the answer depends on what earlier steps change")

// DependsOnEarlier marks err, returned by Check, as describing the host
// before earlier steps of the run have changed it: in check mode, on a host
// where an earlier step would have changed something, the step is reported
// as unknown (would change) instead of failed. Mark only what an earlier
// step can cure: something missing on the host, or in the way, or a probe
// of what it would install; never a mistake in the parameters, a file on
// the controller, or a lost connection. The message is err's own.
func DependsOnEarlier(err error) error {
	if err == nil {
		return nil
	}
	return dependsOnEarlier{err}
}

type dependsOnEarlier struct{ error }

func (d dependsOnEarlier) Unwrap() error        { return d.error }
func (d dependsOnEarlier) Is(target error) bool { return target == ErrDependsOnEarlier }

// Module is a registered task module.
type Module struct {
	Name string
	Doc  string
	// New returns a zero Task (a pointer to the module's parameter struct).
	New func() Task
}

// Param documents one parameter.
type Param struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required,omitempty"`
	Doc      string `json:"doc"`
}

// Params lists the module's parameters from its struct tags.
func (m Module) Params() []Param {
	t := reflect.TypeOf(m.New()).Elem()
	var out []Param
	for _, f := range decode.Fields(t) {
		out = append(out, Param{Name: f.Name, Type: typeName(f.Type), Required: f.Required, Doc: f.Doc})
	}
	return out
}

var (
	mu       sync.RWMutex
	registry = map[string]Module{}
)

// Register adds a module. An empty or duplicate name, or a New that does
// not return a pointer to a struct, is a programming error and panics at
// start-up.
func Register(m Module) {
	if m.Name == "" || m.New == nil {
		panic("tasks.Register: module needs a name and New")
	}
	if t := reflect.TypeOf(m.New()); t == nil || t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("tasks.Register: %s: New must return a pointer to a struct", m.Name))
	}
	mu.Lock()
	defer mu.Unlock()
	if _, dup := registry[m.Name]; dup {
		panic(fmt.Sprintf("tasks.Register: module %q registered twice", m.Name))
	}
	registry[m.Name] = m
}

// Lookup finds a module by name.
func Lookup(name string) (Module, bool) {
	mu.RLock()
	defer mu.RUnlock()
	m, ok := registry[name]
	return m, ok
}

// Names lists the registered modules, sorted.
func Names() []string {
	mu.RLock()
	defer mu.RUnlock()
	out := make([]string, 0, len(registry))
	for name := range registry {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

func typeName(t reflect.Type) string {
	switch {
	case t.String() == "time.Duration":
		return "duration"
	case t.Kind() == reflect.Pointer:
		return typeName(t.Elem())
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Map:
		return "map of " + typeName(t.Elem())
	case t.Kind() == reflect.Interface:
		return "any"
	case t.Name() != "" && t.PkgPath() != "":
		return strings.ToLower(t.Name())
	}
	return t.Kind().String()
}
