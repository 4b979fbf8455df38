package main

import (
	"slices"
	"testing"

	"github.com/vpc-cni/vpc-cni/app/version"
	"github.com/vpc-cni/vpc-cni/test/godeps"
)

// TestNoTemplateDependency keeps the node binaries free of text/template and
// html/template when built with the release tags. Either package calls
// methods by name through reflection, and a binary that contains such a call
// keeps every exported method of every reachable type: the agent then carries
// all of the EC2 SDK's operations (70 MB instead of 26 MB, and about twice
// the resident memory). gRPC's request tracing is the usual way in; the
// grpcnotrace tag (version.BuildTags) leaves it out.
func TestNoTemplateDependency(t *testing.T) {
	for _, pkg := range []string{"github.com/vpc-cni/vpc-cni/cmd/aws-k8s-agent", "github.com/vpc-cni/vpc-cni/cmd/aws-cni"} {
		deps := godeps.List(t, pkg, "github.com/vpc-cni/vpc-cni/adapters/rpc/pb")
		for _, bad := range []string{"text/template", "html/template", "golang.org/x/net/trace"} {
			if slices.Contains(deps, bad) {
				t.Errorf("%s depends on %s with tags %q: the linker would keep every exported method (see the Makefile's BUILD_TAGS)", pkg, bad, version.BuildTags)
			}
		}
	}
}
