package ipamd

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/datapathmem"
	fwmemory "github.com/vpc-cni/vpc-cni/adapters/firewall/memory"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/datastore"
	"github.com/vpc-cni/vpc-cni/ports"
)

func TestPodRoutesOf(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	as := func(container, ns, pod, addr string, table int, at time.Time) datastore.Assignment {
		return datastore.Assignment{
			Key: core.PodKey{NetworkName: "aws-cni", ContainerID: container, IfName: "eth0"},
			Pod: core.PodRef{Namespace: ns, Name: pod}, Addr: netip.MustParseAddr(addr), RouteTable: table, AssignedAt: at,
		}
	}
	route := func(addr string, table int, veth string) ports.PodRoute {
		return ports.PodRoute{Addr: netip.MustParseAddr(addr), RouteTable: table, HostVeth: veth}
	}
	tests := []struct {
		name   string
		prefix string
		veths  map[string]string // netstate.PodVeths of the node's veths
		in     []datastore.Assignment
		want   []ports.PodRoute
	}{
		{
			name:   "one pod per table, veth named from the pod",
			prefix: "eni",
			in:     []datastore.Assignment{as("c1", "default", "pod-a", "10.0.1.5", 254, t0), as("c2", "default", "pod-b", "10.0.2.7", 2, t0)},
			want:   []ports.PodRoute{route("10.0.1.5", 254, "eni5e1c4d6c68c"), route("10.0.2.7", 2, "eni2f5353dd8c5")},
		},
		{
			name:   "another prefix",
			prefix: "cali",
			in:     []datastore.Assignment{as("c1", "default", "pod-a", "10.0.1.5", 254, t0)},
			want:   []ports.PodRoute{route("10.0.1.5", 254, "cali5e1c4d6c68c")},
		},
		{
			name:   "a pod wired before the prefix changed keeps its veth",
			prefix: "cali",
			veths:  map[string]string{"5e1c4d6c68c": "eni5e1c4d6c68c"},
			in:     []datastore.Assignment{as("c1", "default", "pod-a", "10.0.1.5", 254, t0), as("c2", "default", "pod-b", "10.0.2.7", 2, t0)},
			want:   []ports.PodRoute{route("10.0.1.5", 254, "eni5e1c4d6c68c"), route("10.0.2.7", 2, "cali2f5353dd8c5")},
		},
		{
			name:   "no pod name, no namespace, IPv6: left out",
			prefix: "eni",
			in: []datastore.Assignment{as("c1", "default", "", "10.0.1.5", 254, t0), as("c2", "", "pod-a", "10.0.1.6", 254, t0),
				as("c3", "default", "pod-a", "2001:db8::5", 254, t0)},
		},
		{
			name:   "a replaced sandbox: only the newest assignment",
			prefix: "eni",
			in:     []datastore.Assignment{as("old", "default", "pod-a", "10.0.1.5", 254, t0), as("new", "default", "pod-a", "10.0.2.9", 2, t0.Add(time.Minute))},
			want:   []ports.PodRoute{route("10.0.2.9", 2, "eni5e1c4d6c68c")},
		},
		{
			name:   "same pod twice at the same time: neither",
			prefix: "eni",
			in: []datastore.Assignment{as("x", "default", "pod-a", "10.0.1.5", 254, t0), as("y", "default", "pod-a", "10.0.1.6", 254, t0),
				as("c2", "default", "pod-b", "10.0.2.7", 2, t0)},
			want: []ports.PodRoute{route("10.0.2.7", 2, "eni2f5353dd8c5")},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := podRoutesOf(tc.in, tc.prefix, tc.veths); !slices.Equal(got, tc.want) {
				t.Errorf("podRoutesOf = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFirewallNotAppliedWithoutVPCCIDRs(t *testing.T) {
	d := &datapath{}
	cases := []struct {
		name    string
		fw      ports.FirewallConfig
		refused bool
	}{
		{"on-node SNAT without VPC CIDRs", d.firewallConfig(core.Instance{}, nil), true},
		{"only an IPv6 VPC block", d.firewallConfig(core.Instance{}, []netip.Prefix{netip.MustParsePrefix("2600::/56")}), true},
		{"IPv4 VPC CIDR", d.firewallConfig(core.Instance{}, []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}), false},
		{"external SNAT needs no CIDRs", ports.FirewallConfig{ExternalSNAT: true}, false},
	}
	for _, c := range cases {
		err := checkFirewallConfig(c.fw)
		if (err != nil) != c.refused {
			t.Errorf("%s: error %v, refused want %v", c.name, err, c.refused)
		}
		if err != nil && !errors.Is(err, core.ErrInvalidState) {
			t.Errorf("%s: %v does not wrap ErrInvalidState", c.name, err)
		}
	}
}

// The NodePort connmark rule names the link the host datapath found by the
// primary ENI's MAC: on many AMIs that is ens5, and a rule on eth0 would
// never match there. A --primary-interface flag still wins.
func TestFirewallNamesPrimaryLinkFoundByMAC(t *testing.T) {
	const mac = "0a:00:00:00:00:05"
	host, err := datapathmem.New(datapathmem.Config{Links: []datapathmem.Link{{Name: "ens5", MAC: mac, Up: true}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := host.SetupHost(context.Background(), ports.HostConfig{PrimaryMAC: mac, NodePortSupport: true}); err != nil {
		t.Fatal(err)
	}
	vpc := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}
	inst := core.Instance{PrimaryIP: netip.MustParseAddr("10.0.0.4")}
	d := &datapath{host: host, env: config.Env{NodePortSupport: true, VethPrefix: "eni"}}
	fw, err := fwmemory.New(fwmemory.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Apply(context.Background(), d.firewallConfig(inst, vpc)); err != nil {
		t.Fatal(err)
	}
	if got := render(t, fw); !strings.Contains(got, "-A PREROUTING -i ens5 ") || strings.Contains(got, "-i eth0") {
		t.Errorf("firewall on a node whose primary link is ens5:\n%s", got)
	}

	d.o.PrimaryInterface = "eth7"
	if got := d.firewallConfig(inst, vpc).PrimaryInterface; got != "eth7" {
		t.Errorf("with --primary-interface eth7 the firewall names %q", got)
	}
}

// Every pod ADD reads the error totals (metrics); a pass that holds the
// datapath lock while it waits seconds for an ENI's link must not hold
// them up.
func TestErrorTotalsDoNotWaitForAPass(t *testing.T) {
	d := &datapath{errors: map[string]int{}}
	d.mu.Lock() // a pass, awaiting a link
	defer d.mu.Unlock()
	d.count("datapath")
	done := make(chan map[string]int, 1)
	go func() { done <- d.errorTotals() }()
	select {
	case got := <-done:
		if got["datapath"] != 1 {
			t.Errorf("error totals %v, want datapath=1", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("reading the error totals waited for the pass holding the datapath lock")
	}
}

// An ENI whose setup fails every pass (its link moved into a pod by another
// plugin) is logged at error level once, then at debug level with a
// periodic warning; a new error is logged at error level again, and a
// success ends it.
func TestENISetupFailureLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	d := &datapath{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	e := core.ENI{ID: "eni-1", MAC: "0a:00:00:00:00:01", DeviceNumber: 1}
	missing := errors.New("link with MAC 0a:00:00:00:00:01 not found")
	levels := func() map[string]int {
		out := map[string]int{}
		for _, l := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			for _, lv := range []string{"DEBUG", "INFO", "WARN", "ERROR"} {
				if strings.Contains(l, "level="+lv) {
					out[lv]++
				}
			}
		}
		buf.Reset()
		return out
	}
	// The first pass logs the error; every eniFailureReminder passes after
	// it, a warning.
	passes := 2*eniFailureReminder + 1
	for i := 0; i < passes; i++ {
		d.eniFailedLocked(e, missing)
	}
	if got, want := levels(), map[string]int{"ERROR": 1, "WARN": 2, "DEBUG": passes - 3}; !maps.Equal(got, want) {
		t.Errorf("%d failed passes logged %v, want %v", passes, got, want)
	}
	d.eniFailedLocked(e, errors.New("set up ENI eni-1: route table 2: permission denied"))
	if got := levels(); got["ERROR"] != 1 {
		t.Errorf("a new error logged %v, want it at error level", got)
	}
	d.eniSetUpLocked(e)
	if got := levels(); got["INFO"] != 1 {
		t.Errorf("the setup succeeding logged %v, want one info line", got)
	}
	d.eniSetUpLocked(e)
	d.eniFailedLocked(e, missing)
	if got := levels(); got["INFO"] != 0 || got["ERROR"] != 1 {
		t.Errorf("after a success, a failure logged %v, want one error line and no second info", got)
	}
	d.forgetGoneLocked(nil)
	if len(d.failing) != 0 {
		t.Errorf("failures of ENIs that left the pool still remembered: %v", d.failing)
	}
}
