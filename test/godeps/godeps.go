// Package godeps lists what a package of this module pulls into a binary,
// for tests that keep heavy or unwanted packages out of the node binaries.
package godeps

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/app/version"
)

// List returns the import paths pkg depends on, itself included, built
// with the release tags (version.BuildTags). It skips the test when the go
// tool is not on PATH, and fails it when the listing lacks any of want,
// packages pkg is known to need: a listing without them would make every
// "not among the dependencies" check pass for the wrong reason.
func List(t testing.TB, pkg string, want ...string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("the go tool is not on PATH; cannot list the dependencies of %s", pkg)
	}
	out, err := exec.Command(goTool, "list", "-deps", "-tags="+version.BuildTags, pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	deps := strings.Fields(string(out))
	for _, w := range want {
		if !slices.Contains(deps, w) {
			t.Fatalf("go list -deps %s: %s is not among %d packages; the listing is not what this test expects", pkg, w, len(deps))
		}
	}
	return deps
}
