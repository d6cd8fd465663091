package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/engine"
	"github.com/runbookdev/runbook/tasks"
)

func init() {
	tasks.Register(tasks.Module{Name: "t_uuid", Doc: "test module", New: func() tasks.Task { return new(uuidTask) }})
}

// uuidTask takes an ID that must look like one, as consul_acl_token's
// accessor_id must.
type uuidTask struct {
	ID string `yaml:"id"`
}

func (u *uuidTask) Validate() error {
	if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(u.ID) {
		return fmt.Errorf("id must be a UUID, got %q", u.ID)
	}
	return nil
}

func (u *uuidTask) Check(ctx context.Context, h *tasks.Host) (*tasks.Change, error) {
	log.add("check " + h.Name)
	return &tasks.Change{Summary: []string{"+ token"}, Apply: func(context.Context) (tasks.Done, error) { return tasks.Done{}, nil }}, nil
}

// In check mode a secret not made yet is not a value a module can judge:
// a step whose parameters hold one is unknown until applied (would
// change), never a failure of the module's validation, and its Check is
// not run with a placeholder. A real run makes the secret and runs it.
func TestStepWithASecretNotMadeYetIsUnknownInCheckMode(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "age.key")
	t.Setenv(agevars.EnvKeyFile, key)
	if _, err := agevars.Init(key); err != nil {
		t.Fatal(err)
	}
	secrets := filepath.Join(dir, "secrets.yaml")
	site := `secrets_file: secrets.yaml
steps:
  - {name: token, hosts: all, task: t_uuid, with: {id: '{{ secret "tokens/a" "uuid" }}'}}
  - {name: after, hosts: all, task: t_record, with: {label: after}}
`
	for _, check := range []bool{true, false} {
		sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(1, ""),
			opts: engine.Options{Check: check, SecretStore: agevars.NewStore(secrets, check)}})
		if err != nil {
			t.Fatal(err)
		}
		ev := c.find("token", "h1")
		if check {
			if ev.Status != engine.Changed || !ev.Unknown || !strings.Contains(strings.Join(ev.Changes, ";"), "secret tokens/a: not made yet") || sum.Failed() {
				t.Errorf("check: %s unknown=%v %q %q", ev.Status, ev.Unknown, ev.Changes, ev.Message)
			}
			if strings.Contains(strings.Join(log.list(), ","), "check h1") {
				t.Errorf("check mode ran the module's Check with a placeholder: %v", log.list())
			}
			continue
		}
		if ev.Status != engine.Changed || sum.Failed() {
			t.Errorf("apply: %s %q", ev.Status, ev.Message)
		}
	}
}

// A rolling group ordered by what an earlier step registers (the leader
// last) goes on in check mode when that step did not run: its steps are
// unknown, and the run is not stopped over the order of batches that
// restart nothing.
func TestRollingOrderFromAStepThatDidNotRunInCheckMode(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "age.key")
	t.Setenv(agevars.EnvKeyFile, key)
	if _, err := agevars.Init(key); err != nil {
		t.Fatal(err)
	}
	site := `secrets_file: secrets.yaml
steps:
  - {name: probe, hosts: all, task: t_record, with: {label: probe, value: '{{ secret "tokens/a" "uuid" }}'}, register: probe}
  - name: roll
    hosts: all
    serial: 1
    order: '{{ .probe.value }}-{{ .host.name }}'
    block:
      - {name: restart, task: t_record, with: {label: restart}}
`
	sum, c, err := run(t, fixture{files: map[string]string{"site.yaml": site}, inv: localInventory(2, ""),
		opts: engine.Options{Check: true, SecretStore: agevars.NewStore(filepath.Join(dir, "secrets.yaml"), true)}})
	if err != nil {
		t.Fatalf("check mode stopped: %v", err)
	}
	if sum.Failed() || c.find("restart", "h1").Status == "" || c.find("restart", "h2").Status == "" {
		t.Errorf("check: %v", c.results())
	}
}
