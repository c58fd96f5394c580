# Hoist's everyday commands. `make run` starts Hoist on its embedded
# defaults; `make test` runs every test (PostgreSQL ones when
# HOIST_TEST_POSTGRES_DSN is set, which .ci/run arranges).
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GOLANGCI_LINT_VERSION := v2.15.0

.PHONY: build test test-short lint run fuzz

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/hoist ./cmd/hoist

test:
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -count=1 ./...

test-short:
	$(GO) test -short ./...

fuzz:
	$(GO) test -run=^$$ -fuzz=FuzzParse -fuzztime=30s ./commands/
	$(GO) test -run=^$$ -fuzz=FuzzVerifySignature -fuzztime=30s ./bot/

lint:
	$(GO) vet ./...
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) run ./...

run:
	$(GO) run ./cmd/hoist serve
