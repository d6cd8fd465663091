GO      ?= go
BIN     := bin/runbook
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X github.com/runbookdev/runbook/internal/cli.Version=$(VERSION)

.PHONY: all build setup lab-setup consul vault demo test check-fmt vet docs bench clean

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/runbook

## setup: install what the tests and the lab need (openssh-server, sudo,
## debootstrap, systemd-container, iproute2, tcpdump, socat); idempotent
setup:
	./scripts/setup.sh

lab-setup: setup

## consul: build Consul from the Go module proxy, once per machine, into /var/cache/runbook
consul:
	./scripts/consul.sh

## vault: build Vault from the Go module proxy, once per machine, into /var/cache/runbook
## (the tests that start a Vault server skip without it, except under CI)
vault:
	./scripts/vault.sh

## demo: the walkthrough end to end in the lab (needs root)
demo: setup build
	./scripts/demo.sh

## test: formatting, vet and every test, against real hosts where they need them
test: setup check-fmt vet
	@if [ -n "$$CI" ]; then ./scripts/vault.sh >/dev/null; fi
	$(GO) test -race -timeout 25m ./...

check-fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## docs: regenerate docs/tasks.md and docs/runbook.schema.json from the
## modules compiled in
docs: build
	./$(BIN) tasks --output markdown > docs/tasks.md
	./$(BIN) schema > docs/runbook.schema.json

## bench: runbook and ansible-playbook side by side on lab hosts (needs root;
## installs ansible-core); writes docs/benchmarks.md
bench: setup build
	command -v ansible-playbook >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ansible-core
	$(GO) run ./bench -n $(or $(N),10,50,200)

clean:
	rm -rf bin
