package localstack_test

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
	"github.com/vpc-cni/vpc-cni/service/leakgc"
)

// ourTags are the tags the node service puts on an ENI it creates.
func ourTags(t *testing.T, createdAt time.Time) map[string]string {
	return map[string]string{
		core.TagInstanceID: string(suite.instance),
		core.TagCluster:    "ls-" + t.Name(),
		core.TagCreatedAt:  createdAt.UTC().Format(time.RFC3339),
	}
}

func createENI(t *testing.T, req ports.CreateENIRequest) core.ENI {
	t.Helper()
	e, err := suite.cloud.CreateENI(context.Background(), req)
	if err != nil {
		t.Fatalf("CreateENI: %v", err)
	}
	t.Cleanup(func() { _ = suite.cloud.DeleteENI(context.Background(), e.ID) })
	return e
}

func TestDescribeInstanceAndType(t *testing.T) {
	need(t)
	ctx := context.Background()
	inst, err := suite.cloud.DescribeInstance(ctx, suite.instance)
	if err != nil {
		t.Fatalf("DescribeInstance: %v", err)
	}
	if inst.ID != suite.instance || inst.Type != "t3.small" || inst.VPCID != suite.vpc || inst.SubnetID != suite.subnet {
		t.Fatalf("DescribeInstance = %+v", inst)
	}
	if inst.PrimaryENI == "" || len(inst.ENIs) == 0 || !inst.ENIs[0].Primary || inst.ENIs[0].DeviceNumber != 0 {
		t.Fatalf("primary ENI missing or not first: %+v", inst.ENIs)
	}
	if inst.ENIs[0].SubnetCIDR != netip.MustParsePrefix("10.20.0.0/20") {
		t.Fatalf("primary ENI subnet block = %v", inst.ENIs[0].SubnetCIDR)
	}
	if !slices.Contains(inst.VPCCIDRs, netip.MustParsePrefix("10.20.0.0/16")) {
		t.Fatalf("VPC blocks = %v", inst.VPCCIDRs)
	}
	it, err := suite.cloud.DescribeInstanceType(ctx, "t3.small")
	if err != nil {
		t.Fatalf("DescribeInstanceType: %v", err)
	}
	if it.MaxENIs != 3 || it.IPv4PerENI != 4 {
		t.Fatalf("t3.small limits = %+v, want 3 ENIs with 4 addresses", it)
	}
}

func TestDescribeSubnets(t *testing.T) {
	need(t)
	got, err := suite.cloud.DescribeSubnets(context.Background(), ports.SubnetFilter{VPCID: suite.vpc})
	if err != nil {
		t.Fatalf("DescribeSubnets: %v", err)
	}
	blocks := map[core.SubnetID]netip.Prefix{}
	for _, s := range got {
		blocks[s.ID] = s.CIDR
		if s.AvailabilityZone != zone || s.AvailableIPs <= 0 {
			t.Errorf("subnet %+v", s)
		}
	}
	if blocks[suite.subnet] != netip.MustParsePrefix("10.20.0.0/20") || blocks[suite.tiny] != netip.MustParsePrefix("10.20.16.0/28") {
		t.Fatalf("subnets = %v", blocks)
	}
}

// The ENI life cycle the node service runs: create tagged with addresses in
// one call, find it by tags, attach, flag, detach, delete.
func TestENILifecycle(t *testing.T) {
	need(t)
	ctx := context.Background()
	c := suite.cloud
	tags := ourTags(t, time.Now())
	e := createENI(t, ports.CreateENIRequest{
		SubnetID: suite.subnet, Description: core.ENIDescriptionPrefix + string(suite.instance), Tags: tags, SecondaryIPs: 2,
	})
	if len(e.SecondaryIPs) != 2 || !e.PrimaryIP.IsValid() || e.Description != core.ENIDescriptionPrefix+string(suite.instance) {
		t.Fatalf("CreateENI = %+v", e)
	}
	for k, v := range tags {
		if e.Tags[k] != v {
			t.Fatalf("tag %s = %q on creation, want %q", k, e.Tags[k], v)
		}
	}

	found, err := c.DescribeENIs(ctx, ports.ENIFilter{VPCID: suite.vpc, TagKeys: []string{core.TagInstanceID}, Tags: map[string]string{core.TagCluster: tags[core.TagCluster]}})
	if err != nil {
		t.Fatalf("DescribeENIs by tags: %v", err)
	}
	if len(found) != 1 || found[0].ID != e.ID || found[0].Status != "available" || found[0].DeviceNumber != -1 {
		t.Fatalf("DescribeENIs by tags = %+v", found)
	}

	att, err := c.AttachENI(ctx, e.ID, suite.instance, 1, 0)
	if err != nil || att == "" {
		t.Fatalf("AttachENI = %q, %v", att, err)
	}
	if err := c.SetDeleteOnTermination(ctx, e.ID, att); err != nil {
		t.Fatalf("SetDeleteOnTermination: %v", err)
	}
	attached, err := c.DescribeENIs(ctx, ports.ENIFilter{InstanceID: suite.instance})
	if err != nil {
		t.Fatalf("DescribeENIs by instance: %v", err)
	}
	var seen *core.ENI
	for i := range attached {
		if attached[i].ID == e.ID {
			seen = &attached[i]
		}
	}
	if seen == nil || seen.DeviceNumber != 1 || seen.AttachmentID != att || seen.InstanceID != suite.instance || seen.Primary {
		t.Fatalf("attached ENI as described: %+v", seen)
	}

	switch err := c.DeleteENI(ctx, e.ID); {
	case err == nil:
		t.Skip("this LocalStack deleted an attached ENI; EC2 refuses with InvalidNetworkInterface.InUse")
	case !errors.Is(err, core.ErrInvalidState):
		t.Errorf("deleting an attached ENI: %v, want ErrInvalidState", err)
	}
	if err := c.DetachENI(ctx, att, false); err != nil {
		t.Fatalf("DetachENI: %v", err)
	}
	if err := c.DeleteENI(ctx, e.ID); err != nil && !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("DeleteENI: %v", err)
	}
	if _, err := c.DescribeENIs(ctx, ports.ENIFilter{IDs: []core.ENIID{e.ID}}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("describing a deleted ENI: %v, want ErrNotFound", err)
	}
}

func TestSecondaryAddresses(t *testing.T) {
	need(t)
	ctx := context.Background()
	c := suite.cloud
	e := createENI(t, ports.CreateENIRequest{SubnetID: suite.subnet, Tags: ourTags(t, time.Now())})
	got, err := c.AssignIPv4(ctx, e.ID, 3, 0)
	if err != nil {
		t.Fatalf("AssignIPv4: %v", err)
	}
	if len(got.IPs) != 3 {
		t.Fatalf("AssignIPv4 reported %v, want 3 addresses", got.IPs)
	}
	after := describeOne(t, e.ID)
	for _, ip := range got.IPs {
		if !slices.Contains(after.SecondaryIPs, ip) {
			t.Fatalf("assigned %s not on the ENI: %v", ip, after.SecondaryIPs)
		}
	}
	if err := c.UnassignIPv4(ctx, e.ID, got.IPs[:2], nil); err != nil {
		t.Fatalf("UnassignIPv4: %v", err)
	}
	after = describeOne(t, e.ID)
	if len(after.SecondaryIPs) != 1 || after.SecondaryIPs[0] != got.IPs[2] {
		t.Fatalf("after unassigning two: %v, want [%s]", after.SecondaryIPs, got.IPs[2])
	}
}

func describeOne(t *testing.T, id core.ENIID) core.ENI {
	t.Helper()
	enis, err := suite.cloud.DescribeENIs(context.Background(), ports.ENIFilter{IDs: []core.ENIID{id}})
	if err != nil || len(enis) != 1 {
		t.Fatalf("DescribeENIs(%s) = %v, %v", id, enis, err)
	}
	return enis[0]
}

func TestPrefixDelegation(t *testing.T) {
	need(t)
	if !suite.caps.ipv4Prefixes {
		t.Skip("this LocalStack ignores Ipv4PrefixCount (LocalStack 4.14's moto does); prefix delegation is covered by the unit tests and the emulator")
	}
	ctx := context.Background()
	e := createENI(t, ports.CreateENIRequest{SubnetID: suite.subnet, Tags: ourTags(t, time.Now())})
	got, err := suite.cloud.AssignIPv4(ctx, e.ID, 0, 2)
	if err != nil || len(got.Prefixes) != 2 {
		t.Fatalf("AssignIPv4(prefixes 2) = %+v, %v", got, err)
	}
	for _, p := range got.Prefixes {
		if p.Bits() != 28 || p.Masked() != p {
			t.Fatalf("prefix %s is not an aligned /28", p)
		}
	}
	if err := suite.cloud.UnassignIPv4(ctx, e.ID, nil, got.Prefixes); err != nil {
		t.Fatalf("UnassignIPv4(prefixes): %v", err)
	}
}

func TestSubnetFull(t *testing.T) {
	need(t)
	if !suite.caps.subnetExhaustion {
		t.Skip("this LocalStack does not refuse addresses beyond a subnet's size")
	}
	_, err := suite.cloud.CreateENI(context.Background(), ports.CreateENIRequest{SubnetID: suite.tiny, SecondaryIPs: 14})
	if !errors.Is(err, core.ErrSubnetFull) {
		t.Fatalf("CreateENI in a full /28: %v, want ErrSubnetFull", err)
	}
}

func TestAttachmentLimit(t *testing.T) {
	need(t)
	if !suite.caps.attachmentLimit {
		t.Skip("this LocalStack ignores instance ENI limits (LocalStack 4.14's moto does); covered by adapters/memory and the emulator")
	}
	ctx := context.Background()
	var atts []string
	t.Cleanup(func() {
		for _, a := range atts {
			_ = suite.cloud.DetachENI(context.Background(), a, true)
		}
	})
	for device := 1; device <= 3; device++ {
		e := createENI(t, ports.CreateENIRequest{SubnetID: suite.subnet})
		att, err := suite.cloud.AttachENI(ctx, e.ID, suite.instance, device, 0)
		if device < 3 {
			if err != nil {
				t.Fatalf("attach at device %d: %v", device, err)
			}
			atts = append(atts, att)
			continue
		}
		if !errors.Is(err, core.ErrAttachmentLimit) {
			t.Fatalf("attaching a 4th ENI to a t3.small: %v, want ErrAttachmentLimit", err)
		}
	}
}

func TestErrorsAreClassified(t *testing.T) {
	need(t)
	ctx := context.Background()
	bogus := core.ENIID("eni-0123456789abcdef0")
	checks := []struct {
		name string
		err  error
	}{
		{"DeleteENI", suite.cloud.DeleteENI(ctx, bogus)},
		{"DescribeENIs", func() error {
			_, err := suite.cloud.DescribeENIs(ctx, ports.ENIFilter{IDs: []core.ENIID{bogus}})
			return err
		}()},
		{"AssignIPv4", func() error { _, err := suite.cloud.AssignIPv4(ctx, bogus, 1, 0); return err }()},
	}
	for _, c := range checks {
		if !errors.Is(c.err, core.ErrNotFound) {
			t.Errorf("%s on a missing ENI: %v, want ErrNotFound", c.name, c.err)
		}
	}
}

// The leaked-ENI collector against LocalStack: an old ENI of ours is
// deleted, a fresh unmarked one is marked, a foreign one is left alone.
func TestLeakedENICollector(t *testing.T) {
	need(t)
	ctx := context.Background()
	cluster := "ls-" + t.Name()
	old := ourTags(t, time.Now().Add(-time.Hour))
	leaked := createENI(t, ports.CreateENIRequest{SubnetID: suite.subnet, Description: core.ENIDescriptionPrefix + "i-gone", Tags: old})
	unmarkedTags := ourTags(t, time.Time{})
	delete(unmarkedTags, core.TagCreatedAt)
	unmarked := createENI(t, ports.CreateENIRequest{SubnetID: suite.subnet, Description: core.ENIDescriptionPrefix + "i-gone", Tags: unmarkedTags})
	foreign := createENI(t, ports.CreateENIRequest{SubnetID: suite.subnet, Description: "not ours", Tags: old})

	gc, err := leakgc.New(leakgc.Config{ClusterName: cluster, VPCID: suite.vpc}, leakgc.Deps{Cloud: suite.cloud, Clock: wallClock{}})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := gc.Pass(ctx)
	if err != nil {
		t.Fatalf("Pass: %v", err)
	}
	if !slices.Equal(rep.Deleted, []core.ENIID{leaked.ID}) || !slices.Equal(rep.Marked, []core.ENIID{unmarked.ID}) {
		t.Fatalf("report = %+v; want %s deleted and %s marked", rep, leaked.ID, unmarked.ID)
	}
	if got := describeOne(t, unmarked.ID); got.Tags[core.TagCreatedAt] == "" {
		t.Fatalf("marked ENI has no createdAt tag: %v", got.Tags)
	}
	describeOne(t, foreign.ID)
	if _, err := suite.cloud.DescribeENIs(ctx, ports.ENIFilter{IDs: []core.ENIID{leaked.ID}}); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("leaked ENI still there: %v", err)
	}
}

type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func TestFreeImageTags(t *testing.T) {
	for image, want := range map[string]bool{
		"localstack/localstack:4.14.0":   true,
		"localstack/localstack:3.8":      true,
		"localstack/localstack:2026.3.0": false,
		"localstack/localstack:latest":   false,
		"localstack/localstack":          false,
		"registry:5000/localstack:4.1":   true,
	} {
		if got := freeImage(image); got != want {
			t.Errorf("freeImage(%q) = %v, want %v", image, got, want)
		}
	}
}
