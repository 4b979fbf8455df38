package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/vpc-cni/vpc-cni/app/version"
)

// binDir holds aws-cni, aws-k8s-agent and vpc-cni for the tests (empty
// when not root: nothing is built and every test skips).
var binDir string

// TestMain builds the binaries under test once, unless VPC_CNI_E2E_BIN
// names a directory that has them (make e2e passes bin/).
func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	if os.Geteuid() != 0 {
		return m.Run()
	}
	if dir := os.Getenv("VPC_CNI_E2E_BIN"); dir != "" {
		binDir = dir
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "vpccni-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create binary directory:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("../..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	cmd := exec.Command("go", "build", "-trimpath", "-tags="+version.BuildTags, "-o", dir+string(filepath.Separator),
		"./cmd/aws-cni", "./cmd/aws-k8s-agent", "./cmd/vpc-cni")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build the binaries under test: %v\n%s", err, out)
		return 1
	}
	binDir = dir
	return m.Run()
}

// needRoot skips a test that builds namespaces.
func needRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("end-to-end suite needs root: it creates network namespaces, veth links, routes and firewall rules and runs ipamd in them (CI runs it as root; try sudo go test ./test/e2e/)")
	}
}
