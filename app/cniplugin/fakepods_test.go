package cniplugin

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"

	"github.com/vpc-cni/vpc-cni/ports"
)

// fakePods is a small stateful pod datapath: it remembers, per host veth,
// the spec that wired it, and per address the table of the node's rules.
// Setup replaces (idempotent for the same spec), Teardown forgets (success
// when already gone), Check compares. As the netlink adapter, Teardown
// removes a veth only when its pod end is the one in the spec's namespace,
// and rules by address alone.
type fakePods struct {
	mu    sync.Mutex
	wired map[string]ports.PodSpec
	rules map[netip.Addr]int
	// calls lists the methods called, in order.
	calls []string
	// failPrepare makes PreparePod leave a half-made pair and fail.
	failPrepare error
	// failSetup makes SetupPod leave a half-built pod and fail.
	failSetup error
	// failTeardown makes TeardownPod fail.
	failTeardown error
	// beforePrepare, when set, runs at the start of PreparePod (without
	// the lock); its error fails the call.
	beforePrepare func(ctx context.Context) error
	// beforeSetup, when set, runs at the start of SetupPod.
	beforeSetup func()
}

var _ ports.PodNetwork = (*fakePods)(nil)

func newFakePods() *fakePods {
	return &fakePods{wired: map[string]ports.PodSpec{}, rules: map[netip.Addr]int{}}
}

func fakeMAC(name string) string {
	h := sha1.Sum([]byte(name))
	return fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", h[0], h[1], h[2], h[3], h[4])
}

// PreparePod records the pair without an address (table 0); a pair
// already wired into the same namespace keeps its address, as in the real
// adapters.
func (f *fakePods) PreparePod(ctx context.Context, p ports.PodSpec) (ports.PodResult, error) {
	if f.beforePrepare != nil {
		if err := f.beforePrepare(ctx); err != nil {
			return ports.PodResult{}, err
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "PreparePod")
	if p.HostVeth == "" || p.Netns == "" || p.IfName == "" {
		return ports.PodResult{}, fmt.Errorf("incomplete pod spec %+v", p)
	}
	got, ok := f.wired[p.HostVeth]
	if !ok || got.Netns != p.Netns || got.IfName != p.IfName {
		got = ports.PodSpec{ContainerID: p.ContainerID, Netns: p.Netns, IfName: p.IfName, HostVeth: p.HostVeth}
	}
	got.MTU = p.MTU
	if f.failPrepare != nil {
		got.MTU = -1 // the veth exists, half configured
		f.wired[p.HostVeth] = got
		return ports.PodResult{}, f.failPrepare
	}
	f.wired[p.HostVeth] = got
	return ports.PodResult{HostVeth: p.HostVeth, HostMAC: fakeMAC(p.HostVeth), ContainerMAC: fakeMAC(p.ContainerID)}, nil
}

func (f *fakePods) SetupPod(_ context.Context, p ports.PodSpec) (ports.PodResult, error) {
	if f.beforeSetup != nil {
		f.beforeSetup()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "SetupPod")
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
	f.rules[p.Addr] = p.RouteTable
	return ports.PodResult{HostVeth: p.HostVeth, HostMAC: fakeMAC(p.HostVeth), ContainerMAC: fakeMAC(p.ContainerID)}, nil
}

func (f *fakePods) TeardownPod(_ context.Context, p ports.PodSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "TeardownPod")
	if f.failTeardown != nil {
		return f.failTeardown
	}
	if got, ok := f.wired[p.HostVeth]; ok && got.Netns == p.Netns && got.IfName == p.IfName {
		delete(f.wired, p.HostVeth)
	}
	if p.Addr.IsValid() {
		delete(f.rules, p.Addr)
	}
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

// callList returns the methods called so far, space-separated.
func (f *fakePods) callList() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.calls, " ")
}

// ruleState renders the node's pod rules, one line per address, sorted.
func (f *fakePods) ruleState() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var lines []string
	for a, table := range f.rules {
		lines = append(lines, fmt.Sprintf("%s table %d", a, table))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// state renders what is wired, one line per veth, sorted; a prepared pair
// has no address ("invalid IP") and table 0.
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
