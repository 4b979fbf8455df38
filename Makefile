# vpc-cni build and test entry points. The README's two commands are
# `make run` and `make test`; .ci/run calls `make test`.

GO       ?= go
BIN      := bin
ARCHCHECK ?= ../shared/tools/archcheck
GOTEST_FLAGS ?= -count=1

.PHONY: all build test unit archcheck vet fmtcheck bench run generate proto clean

all: build

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo v0.1.0-dev)
# Static binaries (no libc dependency on the host; measured: the agent's
# resident set is ~2 MB smaller than a cgo build). Not stripped: -s -w made
# the agent's RSS larger, not smaller, in BenchmarkAgentRSS250Pods. The
# version is what both sides of the gRPC handshake compare.
LDFLAGS := -X github.com/vpc-cni/vpc-cni/app/version.Version=$(VERSION)

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/ ./cmd/...

## test: everything CI runs: layering, formatting, vet, all tests.
test: archcheck fmtcheck vet unit

unit:
	$(GO) test $(GOTEST_FLAGS) ./...

archcheck:
	@if [ -x "$(ARCHCHECK)" ]; then "$(ARCHCHECK)" . ; \
	else echo "archcheck: SKIPPED, $(ARCHCHECK) not found (it lives in the shared folder beside the repo)"; fi

fmtcheck:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

## bench: datastore speed and allocation targets (≤ 5 µs and 0 allocs per assign+release).
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./core/datastore/ | tee $(BIN)/bench.txt
	@echo
	@echo "targets: BenchmarkAssignRelease_SecondaryIP ≤ 5000 ns/op and 0 allocs/op (upstream ≈ 600 µs, 200+ allocs)"

## run: the README's main command. Until the datapath lands it runs a
## simulated node (real node IPAM service, in-memory EC2, virtual clock)
## and prints its pool.
run: build
	$(BIN)/vpc-cni simulate --instance-type m5.large --pods 20 --env WARM_IP_TARGET=2 --env MINIMUM_IP_TARGET=10

generate:
	$(GO) generate ./core/limits/

## proto: regenerate the gRPC code (needs protoc, protoc-gen-go, protoc-gen-go-grpc).
proto:
	cd adapters/rpc/pb && protoc --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative rpc.proto

clean:
	rm -rf $(BIN)
