package main

import (
	"slices"
	"testing"

	"github.com/vpc-cni/vpc-cni/test/godeps"
)

// TestNoGRPCGo keeps grpc-go out of the plugin. The plugin is executed for
// every pod and every CNI command; grpc-go's package initialisation alone
// is about 0.3 ms of each exec, and its client machinery doubled the cost
// of the one call the plugin makes. The plugin speaks gRPC through
// rpcclient's direct transport and uses only the generated messages
// (adapters/rpc/pb); the service stubs (adapters/rpc/rpcgrpc) and the
// grpc-go client (adapters/rpcclient/grpcconn) are for ipamd and tools.
func TestNoGRPCGo(t *testing.T) {
	const pkg = "github.com/vpc-cni/vpc-cni/cmd/aws-cni"
	deps := godeps.List(t, pkg, "github.com/vpc-cni/vpc-cni/adapters/rpc/pb", "golang.org/x/net/http2")
	for _, bad := range []string{
		"google.golang.org/grpc",
		"google.golang.org/grpc/internal/transport",
		"google.golang.org/grpc/health/grpc_health_v1",
		"github.com/vpc-cni/vpc-cni/adapters/rpc/rpcgrpc",
		"github.com/vpc-cni/vpc-cni/adapters/rpcclient/grpcconn",
	} {
		if slices.Contains(deps, bad) {
			t.Errorf("the plugin depends on %s", bad)
		}
	}
}
