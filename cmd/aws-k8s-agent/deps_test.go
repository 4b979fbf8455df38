package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/app/version"
)

// TestNoTemplateDependency keeps the node binaries free of text/template and
// html/template when built with the release tags. Either package calls
// methods by name through reflection, and a binary that contains such a call
// keeps every exported method of every reachable type: the agent then carries
// all of the EC2 SDK's operations (70 MB instead of 26 MB, and about twice
// the resident memory). gRPC's request tracing is the usual way in; the
// grpcnotrace tag (version.BuildTags) leaves it out.
func TestNoTemplateDependency(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go tool is not on PATH; cannot list the binaries' dependencies")
	}
	for _, pkg := range []string{"github.com/vpc-cni/vpc-cni/cmd/aws-k8s-agent", "github.com/vpc-cni/vpc-cni/cmd/aws-cni"} {
		out, err := exec.Command(goTool, "list", "-deps", "-tags="+version.BuildTags, pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, "github.com/vpc-cni/vpc-cni/adapters/rpc/pb") {
			t.Fatalf("go list -deps %s: the rpc messages are not among %d packages; the listing is not what this test expects", pkg, len(deps))
		}
		for _, bad := range []string{"text/template", "html/template", "golang.org/x/net/trace"} {
			if slices.Contains(deps, bad) {
				t.Errorf("%s depends on %s with tags %q: the linker would keep every exported method (see the Makefile's BUILD_TAGS)", pkg, bad, version.BuildTags)
			}
		}
	}
}
