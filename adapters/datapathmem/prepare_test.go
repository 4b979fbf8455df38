package datapathmem

import (
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

func unaddressed(p ports.PodSpec) ports.PodSpec {
	p.Addr, p.RouteTable = netip.Addr{}, 0
	return p
}

func renderPod(t *testing.T, n *Network, p ports.PodSpec) string {
	t.Helper()
	s, err := n.RenderPod(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func podSide(hostMAC, inet string) string {
	return fmt.Sprintf(`route default via 169.254.1.1 dev eth0
route 169.254.1.1 dev eth0 scope link
link eth0 mtu 9001 up%s
neigh 169.254.1.1 dev eth0 lladdr %s PERMANENT
`, inet, hostMAC)
}

// The same sequence as adapters/netlink's TestPreparePodState, with the
// same golden text.
func TestPreparePod(t *testing.T) {
	n := newNode(t)
	a := podSpec("ctr-a", "/run/netns/a", "eni5e1c4d6c68c", "10.0.1.5", 254)
	const hostOnly = "link eni5e1c4d6c68c mtu 9001 up\n"

	first, err := n.PreparePod(ctx, unaddressed(a))
	if err != nil {
		t.Fatal(err)
	}
	if first.HostVeth != a.HostVeth || first.HostMAC == "" || first.ContainerMAC == "" {
		t.Errorf("PreparePod result = %+v", first)
	}
	if again, err := n.PreparePod(ctx, unaddressed(a)); err != nil || again != first {
		t.Errorf("second PreparePod = %+v, %v; want the same pair %+v", again, err, first)
	}
	if got := render(t, n); got != hostOnly {
		t.Fatalf("node:\n%s", got)
	}
	if got, want := renderPod(t, n, a), podSide(first.HostMAC, ""); got != want {
		t.Fatalf("pod:\n%s\nwant:\n%s", got, want)
	}
	if err := n.CheckPod(ctx, a); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("CheckPod of an unaddressed pair = %v, want ErrNotFound", err)
	}

	// Teardown without an address: nothing left, and it can repeat.
	for range 2 {
		if err := n.TeardownPod(ctx, unaddressed(a)); err != nil {
			t.Fatal(err)
		}
	}
	if got := render(t, n) + renderPod(t, n, a); got != "" {
		t.Fatalf("after teardown:\n%s", got)
	}

	// Prepared then set up: what SetupPod alone gives.
	prepared, err := n.PreparePod(ctx, unaddressed(a))
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.SetupPod(ctx, a)
	if err != nil || res != prepared {
		t.Fatalf("SetupPod after PreparePod = %+v, %v; want the prepared pair %+v", res, err, prepared)
	}
	const wired = "rule 512: from all to 10.0.1.5 lookup main\nroute 10.0.1.5 dev eni5e1c4d6c68c scope link\n" + hostOnly
	if got := render(t, n); got != wired {
		t.Fatalf("node:\n%s", got)
	}
	if got, want := renderPod(t, n, a), podSide(res.HostMAC, " inet 10.0.1.5/32"); got != want {
		t.Fatalf("pod:\n%s\nwant:\n%s", got, want)
	}
	if err := n.CheckPod(ctx, a); err != nil {
		t.Errorf("CheckPod: %v", err)
	}

	// A retried ADD that gets another address: PreparePod keeps the old
	// one, SetupPod replaces it.
	moved := a
	moved.Addr = addr("10.0.1.6")
	if _, err := n.PreparePod(ctx, unaddressed(moved)); err != nil {
		t.Fatal(err)
	}
	if got, want := renderPod(t, n, a), podSide(res.HostMAC, " inet 10.0.1.5/32"); got != want {
		t.Fatalf("PreparePod touched the address:\n%s", got)
	}
	if _, err := n.SetupPod(ctx, moved); err != nil {
		t.Fatal(err)
	}
	if got, want := renderPod(t, n, a), podSide(res.HostMAC, " inet 10.0.1.6/32"); got != want {
		t.Fatalf("pod after the new address:\n%s", got)
	}
}

func TestPreparePodFailures(t *testing.T) {
	n := newNode(t)
	a := unaddressed(podSpec("ctr-a", "/run/netns/a", "eni5e1c4d6c68c", "10.0.1.5", 254))
	boom := errors.New("netlink: no buffer space")
	n.InjectError("PreparePod", boom)
	if _, err := n.PreparePod(ctx, a); !errors.Is(err, boom) {
		t.Errorf("PreparePod with an injected error = %v", err)
	}
	bad := a
	bad.HostVeth = ""
	if _, err := n.PreparePod(ctx, bad); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("PreparePod without a host veth = %v, want ErrInvalidParameter", err)
	}
	n.DeleteNetns(a.Netns)
	if _, err := n.PreparePod(ctx, a); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("PreparePod into a deleted namespace = %v, want ErrNotFound", err)
	}
	if got := render(t, n); got != "" {
		t.Errorf("failed PreparePod calls left state:\n%s", got)
	}
}
