# Weir — see README.md. Two commands matter: `make run` and `make test`.
GO      ?= go
BIN     ?= bin/weir
# Flags for `make run`. The demo listens on loopback only, so it never
# attaches XDP to the machine's NIC; for an edge node, e.g.
# RUN_FLAGS="--http-port 80 --https-port 443 --interface eth0".
RUN_FLAGS ?= --http-port 8080 --https-port 8443 --bind-address 127.0.0.1

.PHONY: all build run test test-unit test-race fuzz-short vet kubeapi image docs generate bench bench-quick bench-workers bench-ws clean

all: build

# VERSION and COMMIT are stamped into the binary (weir version); outside a
# git checkout, weir falls back to what go build stamped itself.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS  = -X main.version=$(VERSION) -X main.commit=$(COMMIT)

build:
	@test -x $(BIN) || echo "compiling Weir into $(BIN): the first build compiles every dependency (client-go, cilium/ebpf) and takes a few minutes"
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
# processes, a real kube-apiserver), the race detector over the concurrent
# packages, and each fuzz target for a few seconds.
test: vet kubeapi test-unit test-race fuzz-short

# WEIR_KUBEAPI_CACHE is where test/kubeapi/build.sh keeps etcd and
# kube-apiserver for the cluster tests: /var/cache/weir-test for root, else
# ~/.cache/weir-test. The tests read the same variable.
export WEIR_KUBEAPI_CACHE ?= $(if $(filter 0,$(shell id -u)),/var/cache/weir-test,$(HOME)/.cache/weir-test)

# kubeapi builds etcd and kube-apiserver (the cluster tests) and helm (the
# chart tests) from the Go module proxy when they are not cached yet (about
# 10 minutes, once), so no such test skips.
kubeapi:
	@echo "etcd, kube-apiserver and helm for the cluster and chart tests: built from the Go module proxy into $(WEIR_KUBEAPI_CACHE) when missing (about 10 minutes, once)"
	@d=$$(bash test/kubeapi/build.sh) && echo "etcd and kube-apiserver: $$d"
	@h=$$(bash test/helm/build.sh) && echo "helm: $$h"

vet:
	$(GO) vet ./...
	$(GO) mod tidy -diff
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: files above need formatting"; exit 1; }

test-unit:
	$(GO) test -count=1 -timeout 30m ./...
	WEIR_TEST_HTTP1_SERVER=net $(GO) test -count=1 -timeout 30m ./l7/proxy ./l7/proxyproto ./l7/connlimit

# FUZZ lists the fuzz targets as package:Target[:budget]; go runs one target
# of a package at a time. A target without a budget fuzzes for FUZZTIME. The
# targets get a number of inputs instead ("20000x"; the slower ones about
# five seconds' worth): timed, they find new coverage until the last second,
# and go then fails the run with "context deadline exceeded" while it
# minimises it (FuzzDecodeDocuments did so at 5s under load).
FUZZ = ./userspace/annotations:FuzzParse:2000x ./userspace/manifest:FuzzDecodeDocuments:3000x \
       ./l7/router:FuzzMatch:8000x ./userspace/snapshot:FuzzBuild:1500x \
       ./l7/h1guard:FuzzHead:20000x ./l7/h1guard:FuzzStream:20000x ./l7/proxyproto:FuzzReadHeader:40000x \
       ./l7/h1server:FuzzServer:20000x ./l7/h1guard:FuzzCanonical:20000x ./l7/proxy:FuzzWriteDirect:20000x \
       ./l7/h1guard:FuzzRefusalParse:20000x
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

# IMAGE_TAG is the release in the VERSION file: the tag of the image that
# deploy/base and deploy/chart name.
IMAGE_TAG ?= v$(shell cat VERSION)

# image writes Weir's container image as an OCI image layout in
# bin/image/oci, without a Docker engine: a static weir (CGO_ENABLED=0) at
# /weir, stamped with IMAGE_TAG. Push it with an OCI tool, e.g. skopeo copy
# oci:bin/image/oci:$(IMAGE_TAG) docker://ghcr.io/weir-lb/weir:$(IMAGE_TAG).
image:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(IMAGE_TAG) -X main.commit=$(COMMIT)" -o bin/image/weir ./cmd/weir
	$(GO) run ./deploy/image --binary bin/image/weir --tag $(IMAGE_TAG) --out bin/image/oci

# docs rewrites the README's generated tables (flags, annotations).
docs:
	$(GO) test ./cmd/weir -run TestREADME -update

# bench runs the whole benchmark matrix (bench/README.md): Weir, nginx and
# haproxy configured for the same job, every scenario over 3 interleaved
# rounds; Markdown in bench/results. As root it apt-get installs nginx,
# haproxy and wrk when missing. Takes about half an hour; not part of test.
bench: build
	$(GO) build -trimpath -o bin/benchtool ./bench/cmd/benchtool
	$(GO) build -trimpath -o bin/wsload ./bench/cmd/wsload
	$(GO) build -trimpath -o bin/floorproxy ./bench/cmd/floorproxy
	bash bench/bench.sh

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
