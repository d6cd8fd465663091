module github.com/runbookdev/runbook/tools/consul

go 1.26

require github.com/hashicorp/consul v1.22.5
