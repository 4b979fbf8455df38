package cniplugin

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/vpc-cni/vpc-cni/ports"
)

// fakePods is a small stateful pod datapath: it remembers, per host veth,
// the spec that wired it. Setup replaces (idempotent for the same spec),
// Teardown forgets (success when already gone), Check compares.
type fakePods struct {
	mu    sync.Mutex
	wired map[string]ports.PodSpec
	// failSetup makes SetupPod leave a half-built pod and fail.
	failSetup error
	// failTeardown makes TeardownPod fail.
	failTeardown error
}

var _ ports.PodNetwork = (*fakePods)(nil)

func newFakePods() *fakePods { return &fakePods{wired: map[string]ports.PodSpec{}} }

func fakeMAC(name string) string {
	h := sha1.Sum([]byte(name))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", h[0], h[1], h[2], h[3], h[4])
}

func (f *fakePods) SetupPod(_ context.Context, p ports.PodSpec) (ports.PodResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p.HostVeth == "" || !p.Addr.IsValid() || p.Netns == "" || p.IfName == "" {
		return ports.PodResult{}, fmt.Errorf("incomplete pod spec %+v", p)
	}
	if f.failSetup != nil {
		half := p
		half.RouteTable = -1 // the veth exists, the routes do not
		f.wired[p.HostVeth] = half
		return ports.PodResult{}, f.failSetup
	}
	f.wired[p.HostVeth] = p
	return ports.PodResult{HostVeth: p.HostVeth, HostMAC: fakeMAC(p.HostVeth), ContainerMAC: fakeMAC(p.ContainerID)}, nil
}

func (f *fakePods) TeardownPod(_ context.Context, p ports.PodSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failTeardown != nil {
		return f.failTeardown
	}
	delete(f.wired, p.HostVeth) // no name: nothing to delete by name

	return nil
}

func (f *fakePods) CheckPod(_ context.Context, p ports.PodSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	got, ok := f.wired[p.HostVeth]
	if !ok {
		return fmt.Errorf("host veth %s does not exist", p.HostVeth)
	}
	var bad []string
	if got.Addr != p.Addr {
		bad = append(bad, fmt.Sprintf("address is %s, want %s", got.Addr, p.Addr))
	}
	if got.RouteTable != p.RouteTable {
		bad = append(bad, fmt.Sprintf("route table is %d, want %d", got.RouteTable, p.RouteTable))
	}
	if got.MTU != p.MTU {
		bad = append(bad, fmt.Sprintf("MTU is %d, want %d", got.MTU, p.MTU))
	}
	if got.IfName != p.IfName || got.Netns != p.Netns {
		bad = append(bad, fmt.Sprintf("container side is %s in %s, want %s in %s", got.IfName, got.Netns, p.IfName, p.Netns))
	}
	if len(bad) > 0 {
		return errors.New(strings.Join(bad, "; "))
	}
	return nil
}

// state renders what is wired, one line per veth, sorted.
func (f *fakePods) state() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var lines []string
	for name, p := range f.wired {
		lines = append(lines, fmt.Sprintf("%s %s %s@%s table %d mtu %d", name, p.Addr, p.IfName, p.Netns, p.RouteTable, p.MTU))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
