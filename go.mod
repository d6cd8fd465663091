module github.com/runbookdev/runbook

go 1.26.0

require (
	github.com/aymanbagabas/go-udiff v0.4.1
	github.com/equinix/equinix-sdk-go v0.66.0
	github.com/google/go-cmp v0.7.0
	github.com/hashicorp/go-multierror v1.1.1
	github.com/melbahja/goph v1.5.2
	github.com/pkg/sftp v1.13.12
	golang.org/x/crypto v0.58.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	github.com/hashicorp/errwrap v1.0.0 // indirect
	github.com/kr/fs v0.1.0 // indirect
	github.com/pkg/errors v0.9.1 // indirect
	golang.org/x/sys v0.49.0 // indirect
	gopkg.in/validator.v2 v2.0.1 // indirect
)
