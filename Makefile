# vpc-cni build and test entry points. The README's two commands are
# `make run` and `make test`; .ci/run calls `make test`.

GO       ?= go
BIN      := bin
ARCHCHECK ?= ../shared/tools/archcheck
GOTEST_FLAGS ?= -count=1
# Build tags for every go command run from here (build, test, vet, bench).
# grpcnotrace builds gRPC without golang.org/x/net/trace: that package imports
# html/template, whose reflective method calls make the linker keep every
# exported method of every reachable type, so all ~700 EC2 operations of the
# SDK stayed in the agent. Measured: agent binary 70 -> 26 MB, its resident
# set at 250 pods 47 -> 24 MB, plugin 18 -> 13 MB. app/version.BuildTags
# holds the same list for the tests that build binaries themselves, and
# cmd/aws-k8s-agent's TestNoTemplateDependency keeps it that way.
BUILD_TAGS ?= grpcnotrace
export GOFLAGS := $(strip $(GOFLAGS) -tags=$(BUILD_TAGS))

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

## bench: datastore speed and allocation targets (≤ 5 µs and 0 allocs per
## assign+release), ipamd start-up and memory, and (as root) the end-to-end
## numbers: CNI ADD/DEL through libcni next to the kernel floor and the
## plugin's process start, the real agent's RSS at 250 pods and its restart
## time. Reported, not asserted.
bench:
	@mkdir -p $(BIN)
	$(GO) test -run '^$$' -bench . -benchmem ./core/datastore/ | tee $(BIN)/bench.txt
	@echo
	@echo "targets: BenchmarkAssignRelease_SecondaryIP ≤ 5000 ns/op and 0 allocs/op (upstream ≈ 600 µs, 200+ allocs)"
	$(GO) test -run '^$$' -bench . -benchmem ./adapters/checkpoint/ | tee -a $(BIN)/bench.txt
	@echo
	@echo "(BenchmarkEncode250 next to BenchmarkEncode250Reference: the checkpoint re-encodes only what changed)"
	$(GO) test -run '^$$' -bench . ./app/ipamd/ ./cmd/aws-k8s-agent/ | tee -a $(BIN)/bench.txt
	@echo
	@echo "targets: BenchmarkStartupReady ≤ 300 ms/op (ready with a checkpoint to restore); rss-MB ≤ 30 at 250 pods"
	@if [ "$$(id -u)" = 0 ]; then \
		$(MAKE) --no-print-directory build && \
		VPC_CNI_E2E_BIN=$(abspath $(BIN)) $(GO) test -count=1 -run '^$$' -bench . -benchtime=1x -timeout 20m ./test/e2e/ | tee $(BIN)/bench-e2e.txt && \
		awk '/^Benchmark/ { b = $$1; sub(/-[0-9]+$$/, "", b); for (i = 2; i <= NF; i++) m[b "," $$i] = $$(i-1) } \
			END { a = "BenchmarkCNIAddDel,"; \
			printf "\ntargets (end to end):\n  CNI ADD p50 %s ms (p99 %s)\n", m[a "add-p50-ms"], m[a "add-p99-ms"]; \
			printf "  target: <= 2 x kernel floor %s ms (veth, move, address, routes, ARP entry, rules; in-process) + plugin exec %s ms = %s ms (ADD / target: %s)\n", m[a "steps-floor-add-p50-ms"], m[a "exec-p50-ms"], m[a "target-add-p50-ms"], m[a "add/target"]; \
			printf "  strict target: <= 2 x the datapath'"'"'s own wiring in-process %s ms (no move) + plugin exec = %s ms (ADD / strict: %s)\n", m[a "wiring-floor-add-p50-ms"], m[a "strict-target-add-p50-ms"], m[a "add/strict-target"]; \
			printf "  of the ADD, the plugin executing p50 %s ms (/ strict: %s), libcni around it p50 %s ms\n", m[a "add-exec-p50-ms"], m[a "add-exec/strict-target"], m[a "libcni-p50-ms"]; \
			printf "  CNI DEL p50 %s ms (p99 %s)\n  ipamd RSS at 250 pods %s MB, target <= 30 MB\n  ipamd ready after restart on a 250-pod checkpoint: p50 %s ms, max %s ms, target <= 300 ms\n", \
			m[a "del-p50-ms"], m[a "del-p99-ms"], m["BenchmarkIPAMD250Pods,rss-MB"], m["BenchmarkIPAMD250Pods,ready-p50-ms"], m["BenchmarkIPAMD250Pods,ready-max-ms"] }' $(BIN)/bench-e2e.txt; \
	else echo "end-to-end benchmarks: SKIPPED (they need root for network namespaces)"; fi

## run: the README's main command. Builds the binaries and brings up one
## local node: the real ipamd against the EC2/IMDS emulator and the real
## plugin through libcni, in network namespaces; prints its ENIs, addresses,
## pods and a connectivity check, and keeps ipamd (introspection at
## 127.0.0.1:61679) running until interrupted, then removes everything.
## Without root it runs the memory datapath instead and says so.
run: build
	$(BIN)/vpc-cni local

## e2e: the end-to-end suite (two nodes × 50 pods per firewall backend and
## more; needs root, skips otherwise). make test runs it too.
.PHONY: e2e
e2e: build
	VPC_CNI_E2E_BIN=$(abspath $(BIN)) $(GO) test $(GOTEST_FLAGS) -v -timeout 15m ./test/e2e/

generate:
	$(GO) generate ./core/limits/

## proto: regenerate the gRPC code (needs protoc, protoc-gen-go, protoc-gen-go-grpc
## and protoc-gen-go-vtproto at the go.mod version of github.com/planetscale/vtprotobuf).
proto:
	cd adapters/rpc/pb && protoc --go_out=. --go_opt=paths=source_relative \
		--go-vtproto_out=. --go-vtproto_opt=paths=source_relative,features=marshal+unmarshal+size \
		rpc.proto health.proto
	cd adapters/rpc/rpcgrpc && protoc -I . -I ../pb --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative service.proto

clean:
	rm -rf $(BIN)
