# Hoist's everyday commands. `make run` starts Hoist on its embedded
# defaults; `make test` runs every test (PostgreSQL ones when
# HOIST_TEST_POSTGRES_DSN is set, which .ci/run arranges).
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GOLANGCI_LINT_VERSION := v2.15.0

.PHONY: build test test-short lint run fuzz demo k8s-bins helm bench

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/hoist ./cmd/hoist

test: k8s-bins helm
	$(GO) vet ./...
	$(GO) test -race -shuffle=on -count=1 ./...

test-short:
	$(GO) test -short ./...

fuzz:
	$(GO) test -run=^$$ -fuzz=FuzzParse -fuzztime=30s ./commands/
	$(GO) test -run=^$$ -fuzz=FuzzVerifySignature -fuzztime=30s ./bot/
	$(GO) test -run=^$$ -fuzz=FuzzWebhookVerification -fuzztime=30s ./integrations/github/

lint:
	$(GO) vet ./...
	$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION) run ./...

run:
	$(GO) run ./cmd/hoist serve

# The playground: Hoist, simulated Slack, Jenkins and GitHub, a cluster (the
# local control plane once k8s-bins has built it, a simulated one until
# then), and a page like a Slack channel at http://127.0.0.1:8080/.
demo:
	$(GO) run ./cmd/hoist demo

# The Kubernetes control plane that the cluster tests and the demo start
# (internal/kubelocal), built from the Go module proxy into
# ~/.cache/hoist/k8s-bin: about 6 minutes the first time, nothing once built.
k8s-bins:
	bash scripts/k8s/build-k8s-bins.sh

# The helm command that the chart's tests (deploy/helm) run, built from the Go
# module proxy into ~/.cache/hoist/helm: about 3 minutes the first time,
# nothing once built.
helm:
	bash scripts/helm/install-helm.sh

# The performance figures, in one markdown table on stdout (progress on
# stderr): the real binary against the simulators, each figure beside a
# baseline measured in the same run. About 6 minutes; shorter and rougher
# with e.g. BENCH_FLAGS='-rounds 1 -build-duration 20s' or
# BENCH_FLAGS='-sections ack,memory' (go run ./bench/ops -h lists the flags).
bench:
	$(GO) run ./bench/ops $(BENCH_FLAGS)
