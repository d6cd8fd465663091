// Command runbook converges fleets of hosts to declarative runbooks.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/runbookdev/runbook/internal/cli"
	_ "github.com/runbookdev/runbook/inventory/equinixmetal"
	_ "github.com/runbookdev/runbook/tasks/all"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// A second Ctrl-C kills at once.
		<-ctx.Done()
		stop()
	}()
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
