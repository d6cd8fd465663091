// Package all compiles in every task module that ships with runbook.
package all

import (
	_ "github.com/runbookdev/runbook/tasks/assert"
	_ "github.com/runbookdev/runbook/tasks/authorizedkey"
	_ "github.com/runbookdev/runbook/tasks/binary"
	_ "github.com/runbookdev/runbook/tasks/blockinfile"
	_ "github.com/runbookdev/runbook/tasks/command"
	_ "github.com/runbookdev/runbook/tasks/consul"
	_ "github.com/runbookdev/runbook/tasks/copy"
	_ "github.com/runbookdev/runbook/tasks/debug"
	_ "github.com/runbookdev/runbook/tasks/file"
	_ "github.com/runbookdev/runbook/tasks/group"
	_ "github.com/runbookdev/runbook/tasks/hostname"
	_ "github.com/runbookdev/runbook/tasks/line"
	_ "github.com/runbookdev/runbook/tasks/metal"
	_ "github.com/runbookdev/runbook/tasks/nftables"
	_ "github.com/runbookdev/runbook/tasks/pkg"
	_ "github.com/runbookdev/runbook/tasks/stat"
	_ "github.com/runbookdev/runbook/tasks/sysctl"
	_ "github.com/runbookdev/runbook/tasks/systemd"
	_ "github.com/runbookdev/runbook/tasks/template"
	_ "github.com/runbookdev/runbook/tasks/timezone"
	_ "github.com/runbookdev/runbook/tasks/unarchive"
	_ "github.com/runbookdev/runbook/tasks/uri"
	_ "github.com/runbookdev/runbook/tasks/user"
	_ "github.com/runbookdev/runbook/tasks/wait"
)
