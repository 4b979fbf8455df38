package fwtest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// RequireRoot skips the test when it cannot create network namespaces.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("skipping: needs root to create network namespaces and program netfilter (run as root, as CI does)")
	}
}

// RequireBinary skips the test when name is not installed and returns its
// path.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	for _, p := range []string{name, "/usr/sbin/" + name, "/sbin/" + name} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Skipf("skipping: %s is not installed (apt-get install -y iptables nftables iproute2)", name)
	return ""
}

// NetNS is a named network namespace created for one test.
type NetNS struct {
	Name string
	// Path is the namespace file to hand to the adapters' NetNS option.
	Path string
}

// NewNetNS creates a fresh named namespace ("vpccni-fw-<random>") and
// deletes it when the test ends. It skips when not root or when "ip" is
// missing.
func NewNetNS(t testing.TB) NetNS {
	t.Helper()
	RequireRoot(t)
	RequireBinary(t, "ip")
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	name := "vpccni-fw-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return NetNS{Name: name, Path: "/run/netns/" + name}
}

// Run executes a command inside the namespace and returns its combined
// output; a failure fails the test.
func (n NetNS) Run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := n.Try(args...)
	if err != nil {
		t.Fatalf("in %s: %s: %v: %s", n.Name, strings.Join(args, " "), err, out)
	}
	return out
}

// Try executes a command inside the namespace and returns its combined
// output and error.
func (n NetNS) Try(args ...string) (string, error) {
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Stdout executes a command inside the namespace and returns only its
// standard output; a failure fails the test.
func (n NetNS) Stdout(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.Name}, args...)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("in %s: %s: %v: %s", n.Name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}
