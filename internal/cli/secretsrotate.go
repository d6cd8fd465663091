package cli

import (
	"context"
	"fmt"

	"github.com/runbookdev/runbook/internal/agevars"
	"github.com/runbookdev/runbook/internal/output"
	"github.com/spf13/cobra"
)

// secretsRotate is the operator's first step of a rotation: the values
// named are retired beside them (still encrypted), and the next apply
// makes new ones for the runbook's steps to roll out. It needs no key:
// nothing is decrypted.
func secretsRotate(_ context.Context, e *env, _ *cobra.Command, pos []string) int {
	if len(pos) < 2 {
		return e.errorf("secrets rotate: want FILE NAME..., the names of generate-once secrets (consul/gossip_key) or certificates (consul/ca); `runbook secrets show FILE` lists them")
	}
	retired, err := agevars.Rotate(pos[0], pos[1:])
	if err != nil {
		return e.errorf("%v", err)
	}
	for _, r := range retired {
		fmt.Fprintf(e.stderr, "%s: retired to %s; the next apply makes a new one\n", output.Escape(r.Name), output.Escape(r.Previous))
	}
	return ExitOK
}
