# mqttio: make build | run | test | lint | fuzz-short | cover | clean | proto |
#         bench-compare | image | e2e | k8s-check
# `make test` is the whole suite, as CI runs it (.ci/run): it installs its
# own Debian dependencies and staticcheck first.

GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := bin/mqttio
ARGS    ?=

# staticcheck and other go-installed tools live here.
export PATH := $(shell $(GO) env GOPATH)/bin:$(PATH)

.PHONY: all build run test deps lint fuzz-short cover clean proto bench-compare

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/mqttio

run:
	$(GO) run -ldflags '-X main.version=$(VERSION)' ./cmd/mqttio $(ARGS)

test: deps
	bash scripts/test.sh

deps:
	bash scripts/install-deps.sh

lint:
	bash scripts/lint.sh

fuzz-short:
	bash scripts/fuzz-short.sh

cover:
	$(GO) test -count=1 -covermode=atomic -coverprofile=coverage.out ./...
	$(GO) tool cover -func=coverage.out | tail -n 1
	$(GO) tool cover -html=coverage.out -o coverage.html
	@echo "coverage: coverage.html"

clean:
	rm -rf bin coverage.out coverage.html

# Regenerate proto/*.pb.go with pinned protoc plugins (Debian protobuf-compiler).
proto:
	bash proto/gen.sh

# mqttio vs Mosquitto side by side (bench/compare.sh): ~8-10 min; QUICK=1 for ~1.5 min.
bench-compare:
	QUICK=$(QUICK) bash bench/compare.sh $(BENCH_ARGS)

# image, e2e, k8s-check: the container image and its end-to-end run.
# Included last so that `all` stays the default goal.
include deployments/make.mk
