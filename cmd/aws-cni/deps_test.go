package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/app/version"
)

// TestNoGRPCGo keeps grpc-go out of the plugin. The plugin is executed for
// every pod and every CNI command; grpc-go's package initialisation alone
// is about 0.3 ms of each exec, and its client machinery doubled the cost
// of the one call the plugin makes. The plugin speaks gRPC through
// rpcclient's direct transport and uses only the generated messages
// (adapters/rpc/pb); the service stubs (adapters/rpc/rpcgrpc) and the
// grpc-go client (adapters/rpcclient/grpcconn) are for ipamd and tools.
func TestNoGRPCGo(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH; cannot list the plugin's dependencies")
	}
	const pkg = "github.com/vpc-cni/vpc-cni/cmd/aws-cni"
	out, err := exec.Command(goTool, "list", "-deps", "-tags="+version.BuildTags, pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	deps := strings.Fields(string(out))
	for _, want := range []string{"github.com/vpc-cni/vpc-cni/adapters/rpc/pb", "golang.org/x/net/http2"} {
		if !slices.Contains(deps, want) {
			t.Fatalf("go list -deps %s: %s is not among %d packages; the listing is not what this test expects", pkg, want, len(deps))
		}
	}
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
