# Weir — see README.md. Two commands matter: `make run` and `make test`.
GO      ?= go
BIN     ?= bin/weir
# Flags for `make run`. The demo listens on loopback only, so it never
# attaches XDP to the machine's NIC; for an edge node, e.g.
# RUN_FLAGS="--http-port 80 --https-port 443 --interface eth0".
RUN_FLAGS ?= --http-port 8080 --https-port 8443 --bind-address 127.0.0.1

.PHONY: all build run test test-unit test-race fuzz-short vet docs generate bench-quick bench-workers bench-ws clean

all: build

# VERSION and COMMIT are stamped into the binary (weir version); outside a
# git checkout, weir falls back to what go build stamped itself.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  = -X main.version=$(VERSION) -X main.commit=$(COMMIT)

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/weir

# run builds Weir, starts the quickstart's three demo backends on
# 127.0.0.1:9101-9103 and serves examples/quickstart on port 8080.
run: build
	@set -e; \
	$(BIN) demo-backends --backend web=127.0.0.1:9101 --backend api=127.0.0.1:9102 \
	  --backend docs=127.0.0.1:9103 & pid=$$!; \
	trap 'kill $$pid 2>/dev/null' EXIT INT TERM; \
	$(BIN) --manifests examples/quickstart $(RUN_FLAGS)

# test runs every test: vet, unit, golden, end to end (real clients, real
# processes), the race detector over the concurrent packages, and each fuzz
# target for a few seconds.
test: vet test-unit test-race fuzz-short

vet:
	$(GO) vet ./...
	$(GO) mod tidy -diff
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }

test-unit:
	$(GO) test -count=1 ./...
	WEIR_TEST_HTTP1_SERVER=net $(GO) test -count=1 ./l7/proxy ./l7/proxyproto ./l7/connlimit

# FUZZ lists the fuzz targets as package:Target[:budget]; go runs one target
# of a package at a time. A target without a budget fuzzes for FUZZTIME. The
# fast ones get a number of inputs instead ("20000x"): timed, they find new
# coverage until the last second, and go then fails the run with "context
# deadline exceeded" while it minimises it.
FUZZ = ./userspace/annotations:FuzzParse ./userspace/manifest:FuzzDecodeDocuments \
       ./l7/router:FuzzMatch ./userspace/snapshot:FuzzBuild \
       ./l7/h1guard:FuzzHead:20000x ./l7/h1guard:FuzzStream:20000x ./l7/proxyproto:FuzzReadHeader:40000x \
       ./l7/h1server:FuzzServer:20000x
FUZZTIME ?= 5s

# fuzz-short runs each fuzz target for its budget (new crashers land in the
# package's testdata/fuzz/<Target>/ and fail the run).
fuzz-short:
	@set -e; for t in $(FUZZ); do \
	  pkg=$${t%%:*}; rest=$${t#*:}; name=$${rest%%:*}; budget=$(FUZZTIME); \
	  case $$rest in *:*) budget=$${rest#*:};; esac; \
	  echo "fuzz $$name ($$pkg) for $$budget"; \
	  $(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$$budget -fuzzminimizetime=5s -parallel=1 $$pkg; \
	done

test-race:
	$(GO) test -count=1 -race ./l7/... ./userspace/controller/... ./userspace/manifest/... ./userspace/kube/... ./userspace/supervisor/...

# generate rebuilds the BPF objects and their Go bindings (committed, so
# `go build` needs no clang) with a pinned compiler.
CLANG ?= clang-19
generate:
	BPF_CLANG=$(CLANG) $(GO) generate ./userspace/datapath/...

# docs rewrites the README's generated tables (flags, annotations).
docs:
	$(GO) test ./cmd/weir -run TestREADME -update

# bench-quick prints requests/s and proxy CPU per request for Weir and nginx
# proxying the same backend in the same run (needs nginx and wrk).
bench-quick: build
	bash bench/quick.sh

# bench-workers compares Weir's multi-process mode (--workers auto) with its
# in-process mode (--workers 0) and nginx with 2 workers, in the same run.
bench-workers: build
	BENCH_TARGETS="direct weir weir-workers nginx" bash bench/quick.sh

# bench-ws prints WebSocket echo messages/s and proxy CPU per message for Weir
# and nginx proxying the same Go echo backend in the same run (needs nginx).
bench-ws: build
	$(GO) build -trimpath -o bin/wsload ./bench/cmd/wsload
	bash bench/ws.sh

clean:
	rm -rf bin
