package ipamd

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/checkpoint"
	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/adapters/netlink"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// restoredPod is an allocation in the checkpoint written before the daemon
// starts; wired pods get their veth, rules and route in the memory
// datapath as the plugin would have made them.
type restoredPod struct {
	name  string // "" for an allocation that names no pod
	addr  netip.Addr
	table int
	age   time.Duration
	wired bool
}

func (p restoredPod) containerID() string { return "container-" + p.addr.String() }

// wire does the plugin's part of an ADD in the memory datapath.
func (n *node) wire(t *testing.T, pod string, addr netip.Addr, table int) {
	t.Helper()
	if _, err := n.host.SetupPod(context.Background(), ports.PodSpec{
		ContainerID: "container-" + pod, Netns: "/run/netns/" + pod, IfName: "eth0",
		HostVeth: netlink.VethName(netlink.DefaultVethPrefix, "default", pod),
		Addr:     addr, MTU: 9001, RouteTable: table,
	}); err != nil {
		t.Fatalf("wire %s: %v", pod, err)
	}
}

// restore writes the checkpoint and wires the pods that run.
func (n *node) restore(t *testing.T, pods []restoredPod) {
	t.Helper()
	var snap core.Snapshot
	for _, p := range pods {
		snap.Allocations = append(snap.Allocations, core.Allocation{
			Key:  core.PodKey{NetworkName: "aws-cni", ContainerID: p.containerID(), IfName: "eth0"},
			Pod:  core.PodRef{Namespace: "default", Name: p.name},
			Addr: p.addr, AssignedAt: time.Now().Add(-p.age),
		})
		if p.wired {
			n.wire(t, p.name, p.addr, p.table)
		}
	}
	f, err := checkpoint.New(checkpoint.Config{Path: n.env["AWS_VPC_K8S_CNI_BACKING_STORE"]})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Save(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
}

// primaryAddrs puts k secondary addresses on the primary ENI.
func (n *node) primaryAddrs(t *testing.T, k int) []netip.Addr {
	t.Helper()
	got, err := n.region.AssignOutOfBand(n.instance.PrimaryENI, k, 0)
	if err != nil || len(got.IPs) != k {
		t.Fatalf("assign %d addresses to the primary ENI: %v, %v", k, got, err)
	}
	return got.IPs
}

// checkpointed lists the container IDs with an allocation and the cooling
// addresses in the checkpoint file.
func (n *node) checkpointed(t *testing.T) (containers, cooling []string) {
	t.Helper()
	cp := n.checkpoint(t)
	for _, a := range cp.Allocations {
		containers = append(containers, a.ContainerID)
	}
	for _, c := range cp.Cooldowns {
		cooling = append(cooling, c.IPv4)
	}
	slices.Sort(containers)
	slices.Sort(cooling)
	return containers, cooling
}

func TestOrphansReleasedAtStart(t *testing.T) {
	n := newNode(t, "m5.large")
	addrs := n.primaryAddrs(t, 4)
	pods := []restoredPod{
		{name: "running", addr: addrs[0], table: 254, age: time.Hour, wired: true},
		{name: "deleted-while-down", addr: addrs[1], table: 254, age: time.Hour},
		{name: "just-assigned", addr: addrs[2], table: 254, age: 0},
		{name: "", addr: addrs[3], table: 254, age: time.Hour},
	}
	n.restore(t, pods)
	// Only the start-up pass may run in this test.
	d := n.start(t, func(o *Options) { o.OrphanInterval = time.Hour })

	// Start returned, so the pass ran before the node was ready.
	containers, cooling := n.checkpointed(t)
	want := []string{pods[0].containerID(), pods[2].containerID(), pods[3].containerID()}
	slices.Sort(want)
	if !slices.Equal(containers, want) || !slices.Equal(cooling, []string{addrs[1].String()}) {
		t.Errorf("checkpoint after start: allocations %v, cooling %v; want %v and [%s]", containers, cooling, want, addrs[1])
	}
	if got := len(d.Service().Assignments()); got != 3 {
		t.Errorf("%d assignments after start, want 3", got)
	}
	if m := scrape(t, d); m["awscni_reclaimed_ip_addresses"] != "1" || m["awscni_assigned_ip_addresses"] != "3" {
		t.Errorf("metrics: reclaimed=%q assigned=%q, want 1 and 3", m["awscni_reclaimed_ip_addresses"], m["awscni_assigned_ip_addresses"])
	}
}

// Changing AWS_VPC_K8S_CNI_VETHPREFIX restarts ipamd with a prefix the
// running pods' veths do not have: they are still running, so their
// addresses stay theirs (handing them out again would give two pods one
// address), while a pod that is really gone is still reclaimed. Their
// rules are repaired on the veths they have.
func TestOrphansSurviveVethPrefixChange(t *testing.T) {
	n := newNode(t, "m5.large")
	addrs := n.primaryAddrs(t, 2)
	pods := []restoredPod{
		{name: "running", addr: addrs[0], table: 254, age: time.Hour, wired: true}, // wired with "eni"
		{name: "deleted-while-down", addr: addrs[1], table: 254, age: time.Hour},
	}
	n.restore(t, pods)
	n.env["AWS_VPC_K8S_CNI_VETHPREFIX"] = "abc"
	route := fmt.Sprintf("%s dev %s scope link", addrs[0], netlink.VethName("eni", "default", "running"))
	if !n.host.DeleteRoute(route) {
		t.Fatalf("route %q not found", route)
	}
	n.start(t, func(o *Options) { o.OrphanInterval = time.Hour })

	containers, cooling := n.checkpointed(t)
	if !slices.Equal(containers, []string{pods[0].containerID()}) || !slices.Equal(cooling, []string{addrs[1].String()}) {
		t.Errorf("checkpoint after start with another veth prefix: allocations %v, cooling %v; want [%s] and [%s]",
			containers, cooling, pods[0].containerID(), addrs[1])
	}
	if !strings.Contains(render(t, n.host), route) {
		t.Errorf("the running pod's route on its %q veth was not repaired:\n%s", "eni", render(t, n.host))
	}
}

func TestOrphanReleasedByPeriodicPass(t *testing.T) {
	n := newNode(t, "m5.large")
	d := n.start(t, func(o *Options) {
		o.OrphanInterval = 10 * time.Millisecond
		o.OrphanMinAge = 30 * time.Millisecond
	})
	c := dial(t, d.Socket())
	ips := map[int]netip.Addr{}
	for i := 1; i <= 2; i++ {
		r, err := c.cni.AddNetwork(tctx(t), addReq(i))
		if err != nil || !r.GetSuccess() {
			t.Fatalf("AddNetwork %d = %v, %v", i, r, err)
		}
		md := r.GetIPAllocationMetadata()[0]
		ips[i] = netip.MustParseAddr(md.GetIPv4Addr())
		if i == 1 { // pod-1's plugin wires it; pod-2's never gets to
			n.wire(t, "pod-1", ips[i], int(md.GetRouteTableId()))
		}
	}
	// pod-2 is deleted while the plugin cannot reach ipamd: no DEL.
	waitFor(t, "pod-2's address to be reclaimed", func() bool {
		_, cooling := n.checkpointed(t)
		return slices.Contains(cooling, ips[2].String())
	})
	// Both allocations were past the minimum age in that pass (pod-1's is
	// the older), so pod-1 was looked at and kept.
	if containers, _ := n.checkpointed(t); !slices.Equal(containers, []string{"container-1"}) {
		t.Errorf("allocations after the reclaim = %v, want [container-1]", containers)
	}
	// The pass counts the release after the checkpoint has it.
	var reclaimed string
	waitFor(t, "the reclaim to be counted", func() bool {
		reclaimed = scrape(t, d)["awscni_reclaimed_ip_addresses"]
		return reclaimed != "0"
	})
	if reclaimed != "1" {
		t.Errorf("awscni_reclaimed_ip_addresses = %q, want 1", reclaimed)
	}
	// A DEL that arrives after all is still a success, with no address.
	dr, err := c.cni.DelNetwork(tctx(t), delReq(2))
	if err != nil || !dr.GetSuccess() || len(dr.GetIPAllocationMetadata()) != 0 {
		t.Errorf("late DelNetwork = %v, %v; want success without address", dr, err)
	}
}

// The state of TestPodRulesRepaired: wantHost plus pod a on the primary
// ENI and pod b on the secondary ENI (table 2).
const wantHostWithPods = `rule 512: from all to 10.0.0.5 lookup main
rule 512: from all to 10.0.0.7 lookup main
rule 1024: from all fwmark 0x80/0x80 lookup main
rule 1536: from 10.0.0.7 lookup 2
rule 32765: from 10.0.0.6 lookup 2
route 10.0.0.5 dev eni5e1c4d6c68c scope link
route 10.0.0.7 dev eni2f5353dd8c5 scope link
route default via 10.0.0.1 dev eth1 table 2
route 10.0.0.1 dev eth1 table 2 scope link
link eni2f5353dd8c5 mtu 9001 up
link eni5e1c4d6c68c mtu 9001 up
link eth0 mtu 9001 up inet 10.0.0.4/19
link eth1 mtu 9001 up inet 10.0.0.6/19
sysctl net.ipv4.conf.eth0.rp_filter = 2
`

func TestPodRulesRepaired(t *testing.T) {
	n := newNode(t, "m5.large")
	primary := n.primaryAddrs(t, 1)
	eni, err := n.region.AddENI(memory.ENISpec{Instance: n.instance.ID, Device: 1,
		CreateENIRequest: ports.CreateENIRequest{SubnetID: n.instance.SubnetID, SecurityGroups: n.instance.SecurityGroups, SecondaryIPs: 1}})
	if err != nil || len(eni.SecondaryIPs) != 1 {
		t.Fatalf("attach an ENI at device 1: %+v, %v", eni, err)
	}
	n.env["WARM_ENI_TARGET"] = "0"
	n.env["WARM_IP_TARGET"] = "2"
	n.restore(t, []restoredPod{
		{name: "pod-a", addr: primary[0], table: 254, age: time.Hour, wired: true},
		{name: "pod-b", addr: eni.SecondaryIPs[0], table: 2, age: time.Hour, wired: true},
	})
	n.start(t, func(o *Options) { o.DatapathInterval = 20 * time.Millisecond })
	if got := render(t, n.host); got != wantHostWithPods {
		t.Fatalf("host datapath after start\n got:\n%s\nwant:\n%s", got, wantHostWithPods)
	}
	// A network manager restarts and flushes every rule at our
	// priorities; pod b's route goes too.
	n.host.FlushRules()
	if !n.host.DeleteRoute(fmt.Sprintf("%s dev %s scope link", eni.SecondaryIPs[0], netlink.VethName("eni", "default", "pod-b"))) {
		t.Fatal("pod b's route not found")
	}
	if render(t, n.host) == wantHostWithPods {
		t.Fatal("flushing changed nothing")
	}
	waitFor(t, "the pod rules to be repaired", func() bool { return render(t, n.host) == wantHostWithPods })
}

func TestServedKeys(t *testing.T) {
	s := newServedKeys()
	k1 := core.PodKey{NetworkName: "aws-cni", ContainerID: "c1", IfName: "eth0"}
	k2 := core.PodKey{NetworkName: "aws-cni", ContainerID: "c2", IfName: "eth0"}
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	s.mark(k1, t0)
	s.mark(k2, t0.Add(50*time.Second))
	tests := []struct {
		key    core.PodKey
		now    time.Time
		window time.Duration
		want   bool
	}{
		{k1, t0.Add(59 * time.Second), time.Minute, true},
		{k1, t0.Add(time.Minute), time.Minute, false},
		{k2, t0.Add(time.Minute), time.Minute, true},
		{k1, t0, 0, false},
		{core.PodKey{ContainerID: "never"}, t0, time.Minute, false},
	}
	for _, tc := range tests {
		if got := s.within(tc.key, tc.now, tc.window); got != tc.want {
			t.Errorf("within(%s, t0+%s, %s) = %v, want %v", tc.key.ContainerID, tc.now.Sub(t0), tc.window, got, tc.want)
		}
	}
	s.prune(t0.Add(time.Minute), time.Minute)
	if _, ok := s.at[k1]; ok {
		t.Error("prune kept a key past the window")
	}
	if _, ok := s.at[k2]; !ok {
		t.Error("prune dropped a key within the window")
	}
}

// The host cannot be read or repaired at start: nothing is released (a
// missing veth list proves nothing), start-up still succeeds, and the
// failed pod repair is counted.
func TestStartWhenHostCannotBeRead(t *testing.T) {
	n := newNode(t, "m5.large")
	addrs := n.primaryAddrs(t, 2)
	n.restore(t, []restoredPod{
		{name: "running", addr: addrs[0], table: 254, age: time.Hour, wired: true},
		{name: "gone", addr: addrs[1], table: 254, age: time.Hour},
	})
	n.host.InjectError("HostVeths", errors.New("netlink dump failed"))
	n.host.InjectError("SyncPodRules", errors.New("netlink socket closed"))
	d := n.start(t, func(o *Options) { o.OrphanInterval = time.Hour })
	if containers, cooling := n.checkpointed(t); len(containers) != 2 || len(cooling) != 0 {
		t.Errorf("checkpoint after start: allocations %v, cooling %v; want both kept", containers, cooling)
	}
	m := scrape(t, d)
	if m["awscni_reclaimed_ip_addresses"] != "0" || m[`awscni_ipamd_error_count{fn="datapath"}`] != "1" {
		t.Errorf("metrics: reclaimed=%q datapath errors=%q, want 0 and 1", m["awscni_reclaimed_ip_addresses"], m[`awscni_ipamd_error_count{fn="datapath"}`])
	}
}
