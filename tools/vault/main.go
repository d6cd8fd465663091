// Command vault is HashiCorp's Vault server and CLI, built from the Go
// module proxy for tests and the lab (its release downloads are out of
// reach here). It does what vault's own main.go does. It lives in a module
// of its own so that Vault's dependency tree never enters runbook's.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
