package consul

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"
	"github.com/runbookdev/runbook/internal/consultest"
	"github.com/runbookdev/runbook/internal/transport"
	"github.com/runbookdev/runbook/tasks"
)

// Somebody writes the entry between this task's read and its write: the
// check-and-set fails, and the task merges again, keeping their source.
func TestIntentionsKeepAConcurrentWrite(t *testing.T) {
	agent := consultest.Start(t)
	ctx := context.Background()
	in := &Intentions{Agent: Agent{Address: agent.Addr}, Destination: "db", Sources: []IntentionSource{{Name: "web", Action: "allow"}}}
	if err := tasks.Prepare(in); err != nil {
		t.Fatal(err)
	}
	h := &tasks.Host{Name: "h1", Conn: transport.Local{}, Log: slog.New(slog.DiscardHandler)}
	change, err := in.Check(ctx, h)
	if err != nil || !change.Changed() {
		t.Fatalf("check: %+v, %v", change, err)
	}
	if _, _, err := agent.Client.ConfigEntries().Set(&api.ServiceIntentionsConfigEntry{Kind: api.ServiceIntentions, Name: "db",
		Sources: []*api.SourceIntention{{Name: "other", Action: api.IntentionActionDeny}}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := change.Apply(ctx); err != nil {
		t.Fatalf("apply: %v", err)
	}
	e, _, err := agent.Client.ConfigEntries().Get(api.ServiceIntentions, "db", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range e.(*api.ServiceIntentionsConfigEntry).Sources {
		got = append(got, fmt.Sprintf("%s=%s", s.Name, s.Action))
	}
	if strings.Join(got, ",") != "other=deny,web=allow,*=deny" {
		t.Fatalf("entry: %v, want somebody's other kept beside the runbook's web and *", got)
	}
}
