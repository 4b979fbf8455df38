package netlink

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

const (
	mac0 = "02:00:00:00:00:10"
	mac1 = "02:00:00:00:00:11"
	mac2 = "02:00:00:00:00:12"
)

var (
	hostCfg = ports.HostConfig{
		PrimaryMAC:           mac0,
		PrimaryIP:            netip.MustParseAddr("10.0.0.10"),
		MTU:                  9001,
		ConnmarkRule:         true,
		Mark:                 0x80,
		ExternalServiceCIDRs: []netip.Prefix{netip.MustParsePrefix("10.100.0.0/16"), netip.MustParsePrefix("192.168.5.0/24")},
		NodePortSupport:      true,
	}
	eni1 = ports.ENINetwork{
		ID: "eni-1", MAC: mac1, DeviceNumber: 1, RouteTable: core.RouteTableFor(0, 1),
		PrimaryIP: netip.MustParseAddr("10.0.2.10"), SubnetCIDR: netip.MustParsePrefix("10.0.2.0/24"), MTU: 9001,
	}
	// A second network card's ENI: table 10000 + 100·card + device, with an
	// explicit gateway.
	eni2 = ports.ENINetwork{
		ID: "eni-2", MAC: mac2, NetworkCard: 1, DeviceNumber: 0, RouteTable: core.RouteTableFor(1, 0),
		PrimaryIP: netip.MustParseAddr("10.0.3.20"), SubnetCIDR: netip.MustParsePrefix("10.0.3.0/24"),
		Gateway: netip.MustParseAddr("10.0.3.1"), MTU: 9001,
	}
)

const goldenHost = `rule 1024: from all fwmark 0x80/0x80 lookup main
rule 1535: from all to 10.100.0.0/16 lookup main
rule 1535: from all to 192.168.5.0/24 lookup main
rule 32765: from 10.0.2.10 lookup 2
rule 32765: from 10.0.3.20 lookup 10100
route default via 10.0.2.1 dev eth1 table 2
route 10.0.2.1 dev eth1 table 2 scope link
route default via 10.0.3.1 dev eth2 table 10100
route 10.0.3.1 dev eth2 table 10100 scope link
link eth0 mtu 9001 up inet 10.0.0.10/24
link eth1 mtu 9001 up inet 10.0.2.10/24
link eth2 mtu 9001 up inet 10.0.3.20/24
sysctl net.ipv4.conf.eth0.rp_filter = 2
`

// nodeWithNICs builds a node namespace with eth0 (up, addressed, as the OS
// leaves it), eth1 and eth2 (down, as freshly attached ENIs), all veths to
// a "vpc" namespace.
func nodeWithNICs(t *testing.T) *testNS {
	vpc := newTestNS(t, "vpc")
	node := newTestNS(t, "node")
	node.addNIC(t, vpc, "eth0", mac0, true, "10.0.0.10/24")
	node.addNIC(t, vpc, "eth1", mac1, false)
	node.addNIC(t, vpc, "eth2", mac2, false, "10.0.3.99/24") // a stale address to be replaced
	return node
}

func render(t *testing.T, d interface {
	Render(context.Context) (string, error)
}) string {
	t.Helper()
	s, err := d.Render(context.Background())
	if err != nil {
		t.Fatalf("Render: %v", err)
	}
	return s
}

func setupNode(t *testing.T, d ports.HostNetwork, cfg ports.HostConfig, enis ...ports.ENINetwork) {
	t.Helper()
	ctx := context.Background()
	if err := d.SetupHost(ctx, cfg); err != nil {
		t.Fatalf("SetupHost: %v", err)
	}
	if p := d.PrimaryInterface(); p != "eth0" { // the link with the primary MAC
		t.Fatalf("PrimaryInterface after SetupHost = %q, want eth0", p)
	}
	for _, e := range enis {
		if err := d.SetupENI(ctx, e); err != nil {
			t.Fatalf("SetupENI %s: %v", e.ID, err)
		}
	}
}

func TestHostNetworkInNamespace(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	node := nodeWithNICs(t)
	// A stale external-service rule of ours, left from an earlier config.
	node.ip(t, "rule", "add", "to", "10.99.0.0/16", "lookup", "main", "pref", "1535")
	d := newDatapath(t, Config{Netns: node.path, LinkWaitAttempts: 2, LinkWaitInterval: 10 * time.Millisecond})

	setupNode(t, d, hostCfg, eni1, eni2)
	if got := render(t, d); got != goldenHost {
		t.Fatalf("after setup:\n%s\ndiff (+got -want):\n%s", got, diff(got, goldenHost))
	}

	t.Run("idempotent", func(t *testing.T) {
		setupNode(t, d, hostCfg, eni1, eni2)
		if got := render(t, d); got != goldenHost {
			t.Fatalf("second setup changed the state:\n%s", diff(got, goldenHost))
		}
	})

	t.Run("repairs out-of-band changes", func(t *testing.T) {
		node.ip(t, "rule", "del", "pref", "32765", "from", "10.0.2.10", "lookup", "2")
		node.ip(t, "rule", "del", "pref", "1024")
		node.ip(t, "route", "del", "default", "table", "2")
		node.ip(t, "route", "add", "10.0.2.0/24", "dev", "eth1")                   // subnet route back in main
		node.ip(t, "route", "add", "10.9.9.0/24", "dev", "eth2", "table", "10100") // stray route in an ENI table
		node.ip(t, "addr", "add", "10.0.2.99/24", "dev", "eth1")
		node.ip(t, "link", "set", "eth1", "mtu", "1500")
		// A duplicate (differing only in protocol, which the kernel
		// accepts as a separate rule).
		node.ip(t, "rule", "add", "pref", "32765", "from", "10.0.3.20", "lookup", "10100", "protocol", "static")
		node.writeSysctl(t, "/proc/sys/net/ipv4/conf/eth0/rp_filter", "1")

		broken := render(t, d)
		for _, want := range []string{
			"route 10.0.2.0/24 dev eth1 scope link",
			"link eth1 mtu 1500 up inet 10.0.2.10/24 inet 10.0.2.99/24",
			"sysctl net.ipv4.conf.eth0.rp_filter = 1",
		} {
			if !strings.Contains(broken, want+"\n") {
				t.Errorf("Render does not show the change %q:\n%s", want, broken)
			}
		}
		if strings.Count(broken, "rule 32765: from 10.0.3.20 lookup 10100\n") != 2 {
			t.Errorf("Render does not show the duplicate rule:\n%s", broken)
		}

		setupNode(t, d, hostCfg, eni1, eni2)
		if got := render(t, d); got != goldenHost {
			t.Fatalf("not repaired:\n%s", diff(got, goldenHost))
		}
	})

	t.Run("teardown ENI", func(t *testing.T) {
		if err := d.TeardownENI(ctx, eni1); err != nil {
			t.Fatal(err)
		}
		if err := d.TeardownENI(ctx, eni1); err != nil {
			t.Fatalf("second TeardownENI: %v", err)
		}
		want := `rule 1024: from all fwmark 0x80/0x80 lookup main
rule 1535: from all to 10.100.0.0/16 lookup main
rule 1535: from all to 192.168.5.0/24 lookup main
rule 32765: from 10.0.3.20 lookup 10100
route default via 10.0.3.1 dev eth2 table 10100
route 10.0.3.1 dev eth2 table 10100 scope link
link eth0 mtu 9001 up inet 10.0.0.10/24
link eth2 mtu 9001 up inet 10.0.3.20/24
sysctl net.ipv4.conf.eth0.rp_filter = 2
`
		if got := render(t, d); got != want {
			t.Fatalf("after TeardownENI:\n%s", diff(got, want))
		}
	})

	t.Run("host config change", func(t *testing.T) {
		cfg := hostCfg
		cfg.PrimaryMAC = ""
		cfg.PrimaryInterface = "eth0"
		cfg.ConnmarkRule = false
		cfg.ExternalServiceCIDRs = cfg.ExternalServiceCIDRs[:1]
		if err := d.SetupHost(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		want := `rule 1535: from all to 10.100.0.0/16 lookup main
rule 32765: from 10.0.3.20 lookup 10100
route default via 10.0.3.1 dev eth2 table 10100
route 10.0.3.1 dev eth2 table 10100 scope link
link eth0 mtu 9001 up inet 10.0.0.10/24
link eth2 mtu 9001 up inet 10.0.3.20/24
sysctl net.ipv4.conf.eth0.rp_filter = 2
`
		if got := render(t, d); got != want {
			t.Fatalf("after config change:\n%s", diff(got, want))
		}
	})
}

func TestHostNetworkErrors(t *testing.T) {
	needRoot(t)
	ctx := context.Background()
	node := nodeWithNICs(t)
	d := newDatapath(t, Config{Netns: node.path, LinkWaitAttempts: 3, LinkWaitInterval: time.Millisecond})

	missing := eni1
	missing.MAC = "02:00:00:00:00:99"
	err := d.SetupENI(ctx, missing)
	if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), "02:00:00:00:00:99") || !strings.Contains(err.Error(), "3 attempts") {
		t.Errorf("SetupENI with an absent MAC = %v, want ErrNotFound naming the MAC and the attempts", err)
	}

	tests := []struct {
		name string
		eni  func(e ports.ENINetwork) ports.ENINetwork
	}{
		{"main table", func(e ports.ENINetwork) ports.ENINetwork { e.RouteTable = 254; return e }},
		{"bad MAC", func(e ports.ENINetwork) ports.ENINetwork { e.MAC = "nope"; return e }},
		{"IP outside subnet", func(e ports.ENINetwork) ports.ENINetwork { e.PrimaryIP = netip.MustParseAddr("10.9.9.9"); return e }},
	}
	for _, tt := range tests {
		if err := d.SetupENI(ctx, tt.eni(eni1)); !errors.Is(err, core.ErrInvalidParameter) {
			t.Errorf("%s: SetupENI = %v, want ErrInvalidParameter", tt.name, err)
		}
	}

	cfg := hostCfg
	cfg.PrimaryMAC = "02:00:00:00:00:98"
	if err := d.SetupHost(ctx, cfg); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("SetupHost with an absent primary = %v, want ErrNotFound", err)
	}

	// The wait honours cancellation.
	slow := newDatapath(t, Config{Netns: node.path, LinkWaitAttempts: 1000, LinkWaitInterval: time.Hour})
	cctx, cancel := context.WithCancel(ctx)
	go cancel()
	if err := slow.SetupENI(cctx, missing); !errors.Is(err, context.Canceled) {
		t.Errorf("SetupENI with a cancelled context = %v, want context.Canceled", err)
	}
	// Nothing was programmed by the failures.
	if got := render(t, d); got != "" {
		t.Errorf("failed calls left state behind:\n%s", got)
	}
}

// The link of a just attached ENI may appear while SetupENI waits for it.
func TestSetupENIWaitsForLink(t *testing.T) {
	needRoot(t)
	vpc := newTestNS(t, "vpc")
	node := newTestNS(t, "node")
	d := newDatapath(t, Config{Netns: node.path, LinkWaitAttempts: 2000, LinkWaitInterval: 5 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- d.SetupENI(context.Background(), eni1) }()
	node.addNIC(t, vpc, "eth1", mac1, false)
	if err := <-done; err != nil {
		t.Fatalf("SetupENI: %v", err)
	}
	want := `rule 32765: from 10.0.2.10 lookup 2
route default via 10.0.2.1 dev eth1 table 2
route 10.0.2.1 dev eth1 table 2 scope link
link eth1 mtu 9001 up inet 10.0.2.10/24
`
	if got := render(t, d); got != want {
		t.Fatalf("got:\n%s", diff(got, want))
	}
}
