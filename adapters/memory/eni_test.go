package memory

import (
	"context"
	"net/netip"
	"slices"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

func TestAttachENI(t *testing.T) {
	ctx := context.Background()
	type setup struct {
		env  *testEnv
		eni  core.ENIID
		inst core.InstanceID
	}
	tests := []struct {
		name         string
		prepare      func(t *testing.T, s *setup)
		device, card int
		code         string
		sentinel     error
	}{
		{name: "ok", device: 1},
		{name: "device index taken", device: 0, code: CodeInvalidParameterValue, sentinel: core.ErrInvalidParameter},
		{name: "negative device", device: -1, code: CodeInvalidParameterValue, sentinel: core.ErrInvalidParameter},
		{name: "no such card", device: 1, card: 1, code: CodeInvalidParameterValue, sentinel: core.ErrInvalidParameter},
		{name: "attachment limit", device: 3, code: CodeAttachmentLimitExceeded, sentinel: core.ErrAttachmentLimit,
			prepare: func(t *testing.T, s *setup) { s.env.newENI(t, 1); s.env.newENI(t, 2) }},
		{name: "already attached", device: 2, code: CodeENIInUse, sentinel: core.ErrInvalidState,
			prepare: func(t *testing.T, s *setup) {
				if _, err := s.env.c.AttachENI(ctx, s.eni, s.inst, 1, 0); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "other availability zone", device: 1, code: CodeInvalidParameterValue, sentinel: core.ErrInvalidParameter,
			prepare: func(t *testing.T, s *setup) {
				e, err := s.env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetB})
				if err != nil {
					t.Fatal(err)
				}
				s.eni = e.ID
			}},
		{name: "unknown ENI", device: 1, code: CodeENINotFound, sentinel: core.ErrNotFound,
			prepare: func(t *testing.T, s *setup) { s.eni = "eni-0123456789abcdef0" }},
		{name: "unknown instance", device: 1, code: CodeInstanceNotFound, sentinel: core.ErrNotFound,
			prepare: func(t *testing.T, s *setup) { s.inst = "i-0123456789abcdef0" }},
		{name: "stopped instance", device: 1, code: CodeIncorrectInstanceState, sentinel: core.ErrInvalidState,
			prepare: func(t *testing.T, s *setup) { must(t, s.env.c.SetInstanceState(s.inst, InstanceStopped)) }},
		{name: "terminated instance", device: 1, code: CodeIncorrectInstanceState, sentinel: core.ErrInvalidState,
			prepare: func(t *testing.T, s *setup) { must(t, s.env.c.TerminateInstance(s.inst)) }},
		{name: "too many addresses for the type", device: 1, code: CodePrivateIPAddressLimitExceeded, sentinel: core.ErrAddressLimit,
			prepare: func(t *testing.T, s *setup) {
				if _, err := s.env.c.AssignIPv4(ctx, s.eni, 4, 0); err != nil { // 5 > t3.small's 4
					t.Fatal(err)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newEnv(t)
			eni, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetA})
			if err != nil {
				t.Fatal(err)
			}
			s := &setup{env: env, eni: eni.ID, inst: env.inst.ID}
			if tt.prepare != nil {
				tt.prepare(t, s)
			}
			before, _ := env.c.ENI(s.eni)
			att, err := env.c.AttachENI(ctx, s.eni, s.inst, tt.device, tt.card)
			if tt.code != "" {
				wantCode(t, err, tt.code, tt.sentinel)
				if after, _ := env.c.ENI(s.eni); after.AttachmentID != before.AttachmentID || after.Status != before.Status {
					t.Fatalf("failed attach changed the ENI: %+v -> %+v", before, after)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, _ := env.c.ENI(s.eni)
			if got.Status != StatusInUse || got.AttachmentID != att || got.InstanceID != s.inst || got.DeviceNumber != tt.device ||
				got.DeleteOnTermination || got.Primary {
				t.Fatalf("attached ENI = %+v (attachment %s)", got, att)
			}
		})
	}
}

// Each network card has its own interface limit.
func TestAttachLimitPerNetworkCard(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	inst, err := env.c.LaunchInstance(LaunchSpec{Type: "x.multicard", SubnetID: subnetA})
	if err != nil {
		t.Fatal(err)
	}
	attach := func(device, card int) error {
		e, err := env.c.CreateENI(ctx, ports.CreateENIRequest{SubnetID: subnetA})
		if err != nil {
			t.Fatal(err)
		}
		_, err = env.c.AttachENI(ctx, e.ID, inst.ID, device, card)
		return err
	}
	must(t, attach(1, 0))
	wantCode(t, attach(2, 0), CodeAttachmentLimitExceeded, core.ErrAttachmentLimit)
	must(t, attach(0, 1)) // device numbers are per card
	wantCode(t, attach(1, 1), CodeAttachmentLimitExceeded, core.ErrAttachmentLimit)
	wantCode(t, attach(0, 2), CodeInvalidParameterValue, core.ErrInvalidParameter)
	got := env.c.ENIsOf(inst.ID)
	var pos [][2]int
	for _, e := range got {
		pos = append(pos, [2]int{e.NetworkCard, e.DeviceNumber})
	}
	if !slices.Equal(pos, [][2]int{{0, 0}, {0, 1}, {1, 0}}) {
		t.Fatalf("ENIsOf order = %v", pos)
	}
}

func TestDetachAndDelete(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	eni, att := env.newENI(t, 1)
	if _, err := env.c.AssignIPv4(ctx, eni.ID, 2, 1); err != nil {
		t.Fatal(err)
	}
	freeAttached := env.c.SubnetFree(subnetA)

	wantCode(t, env.c.DeleteENI(ctx, eni.ID), CodeENIInUse, core.ErrInvalidState)
	wantCode(t, env.c.DetachENI(ctx, "eni-attach-0000000000000000", false), CodeAttachmentNotFound, core.ErrNotFound)
	primary, _ := env.c.ENI(env.inst.PrimaryENI)
	wantCode(t, env.c.DetachENI(ctx, primary.AttachmentID, true), CodeOperationNotPermitted, core.ErrInvalidState)

	must(t, env.c.DetachENI(ctx, att, false))
	got, _ := env.c.ENI(eni.ID)
	if got.Status != StatusAvailable || got.AttachmentID != "" || got.DeviceNumber != -1 || got.InstanceID != "" {
		t.Fatalf("detached ENI = %+v", got)
	}
	if env.c.SubnetFree(subnetA) != freeAttached {
		t.Fatalf("detach released addresses")
	}
	wantCode(t, env.c.DetachENI(ctx, att, false), CodeAttachmentNotFound, core.ErrNotFound)

	must(t, env.c.DeleteENI(ctx, eni.ID))
	if env.c.SubnetFree(subnetA) != freeAttached+1+2+16 {
		t.Fatalf("delete released %d addresses, want 19", env.c.SubnetFree(subnetA)-freeAttached)
	}
	if _, ok := env.c.ENI(eni.ID); ok {
		t.Fatal("deleted ENI still exists")
	}
	wantCode(t, env.c.DeleteENI(ctx, eni.ID), CodeENINotFound, core.ErrNotFound)
}

func TestTerminateInstance(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	kept, _ := env.newENI(t, 1)
	gone, goneAtt := env.newENI(t, 2)
	must(t, env.c.SetDeleteOnTermination(ctx, gone.ID, goneAtt))
	if e, _ := env.c.ENI(gone.ID); !e.DeleteOnTermination {
		t.Fatal("DeleteOnTermination not set")
	}
	wantCode(t, env.c.SetDeleteOnTermination(ctx, kept.ID, goneAtt), CodeAttachmentNotFound, core.ErrNotFound)
	wantCode(t, env.c.SetDeleteOnTermination(ctx, "eni-0aaaaaaaaaaaaaaaa", goneAtt), CodeENINotFound, core.ErrNotFound)
	free := env.c.SubnetFree(subnetA)

	must(t, env.c.TerminateInstance(env.inst.ID))
	if _, ok := env.c.ENI(env.inst.PrimaryENI); ok {
		t.Fatal("primary ENI survived termination")
	}
	if _, ok := env.c.ENI(gone.ID); ok {
		t.Fatal("ENI with DeleteOnTermination survived")
	}
	leaked, ok := env.c.ENI(kept.ID)
	if !ok || leaked.Status != StatusAvailable || leaked.InstanceID != "" {
		t.Fatalf("ENI without DeleteOnTermination should be left available: %+v", leaked)
	}
	if env.c.SubnetFree(subnetA) != free+2 {
		t.Fatalf("termination freed %d addresses, want 2", env.c.SubnetFree(subnetA)-free)
	}
	_, err := env.c.DescribeInstance(ctx, env.inst.ID)
	wantCode(t, err, CodeInstanceNotFound, core.ErrNotFound)
	leakedList, err := env.c.DescribeENIs(ctx, ports.ENIFilter{Status: StatusAvailable, VPCID: vpcID})
	if err != nil || len(leakedList) != 1 || leakedList[0].ID != kept.ID {
		t.Fatalf("available ENIs = %v, %v", leakedList, err)
	}
	if err := env.c.TerminateInstance(env.inst.ID); err == nil {
		t.Fatal("terminating twice succeeded")
	}
}

func TestTagsAndFilters(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	mine, _ := env.newENI(t, 1)
	must(t, env.c.CreateTags(ctx, string(mine.ID), map[string]string{core.TagInstanceID: string(env.inst.ID), core.TagCluster: "c1"}))
	unmanaged, err := env.c.AddENI(ENISpec{
		CreateENIRequest: ports.CreateENIRequest{SubnetID: subnetA, Tags: map[string]string{core.TagNoManage: "true"}},
		Instance:         env.inst.ID, Device: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !unmanaged.NoManage() || unmanaged.Status != StatusInUse {
		t.Fatalf("out-of-band ENI = %+v", unmanaged)
	}
	leaked, err := env.c.AddENI(ENISpec{CreateENIRequest: ports.CreateENIRequest{
		SubnetID: subnetA, Description: "aws-K8S-i-old", Tags: map[string]string{core.TagInstanceID: "i-old"}}})
	if err != nil {
		t.Fatal(err)
	}
	trunk, err := env.c.AddENI(ENISpec{CreateENIRequest: ports.CreateENIRequest{SubnetID: subnetC}, InterfaceType: InterfaceTypeTrunk})
	if err != nil {
		t.Fatal(err)
	}
	if !trunk.Trunk || trunk.EFA {
		t.Fatalf("trunk flags = %+v", trunk)
	}
	primary := env.inst.PrimaryENI

	tests := []struct {
		name string
		f    ports.ENIFilter
		want []core.ENIID
	}{
		{"all", ports.ENIFilter{}, []core.ENIID{primary, mine.ID, unmanaged.ID, leaked.ID, trunk.ID}},
		{"instance", ports.ENIFilter{InstanceID: env.inst.ID}, []core.ENIID{primary, mine.ID, unmanaged.ID}},
		{"available", ports.ENIFilter{Status: StatusAvailable}, []core.ENIID{leaked.ID, trunk.ID}},
		{"in-use", ports.ENIFilter{Status: StatusInUse}, []core.ENIID{primary, mine.ID, unmanaged.ID}},
		{"tag key", ports.ENIFilter{TagKeys: []string{core.TagInstanceID}}, []core.ENIID{mine.ID, leaked.ID}},
		{"tag value", ports.ENIFilter{Tags: map[string]string{core.TagInstanceID: "i-old"}}, []core.ENIID{leaked.ID}},
		{"tag key and value", ports.ENIFilter{TagKeys: []string{core.TagCluster}, Tags: map[string]string{core.TagInstanceID: string(env.inst.ID)}}, []core.ENIID{mine.ID}},
		{"leak query", ports.ENIFilter{TagKeys: []string{core.TagInstanceID}, Status: StatusAvailable, VPCID: vpcID}, []core.ENIID{leaked.ID}},
		{"ids", ports.ENIFilter{IDs: []core.ENIID{trunk.ID, mine.ID}}, []core.ENIID{mine.ID, trunk.ID}},
		{"other vpc", ports.ENIFilter{VPCID: "vpc-other"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := env.c.DescribeENIs(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []core.ENIID
			for _, e := range got {
				ids = append(ids, e.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Fatalf("DescribeENIs(%+v) = %v, want %v", tt.f, ids, tt.want)
			}
		})
	}

	_, err = env.c.DescribeENIs(ctx, ports.ENIFilter{IDs: []core.ENIID{mine.ID, "eni-0deadbeefdeadbeef"}})
	wantCode(t, err, CodeENINotFound, core.ErrNotFound)

	// Tags overwrite per key and reject what EC2 rejects.
	must(t, env.c.CreateTags(ctx, string(mine.ID), map[string]string{core.TagCluster: "c2"}))
	if e, _ := env.c.ENI(mine.ID); e.Tags[core.TagCluster] != "c2" || e.Tags[core.TagInstanceID] != string(env.inst.ID) {
		t.Fatalf("tags after overwrite = %v", e.Tags)
	}
	tagErrs := []struct {
		id   string
		tags map[string]string
		code string
		s    error
	}{
		{"eni-0deadbeefdeadbeef", map[string]string{"a": "b"}, CodeENINotFound, core.ErrNotFound},
		{"subnet-nope", map[string]string{"a": "b"}, CodeSubnetNotFound, core.ErrNotFound},
		{"i-0deadbeefdeadbeef", map[string]string{"a": "b"}, CodeInstanceNotFound, core.ErrNotFound},
		{"bogus", map[string]string{"a": "b"}, "InvalidID", core.ErrInvalidParameter},
		{string(mine.ID), map[string]string{"aws:cloudformation": "x"}, CodeInvalidParameterValue, core.ErrInvalidParameter},
		{string(mine.ID), map[string]string{"": "x"}, CodeInvalidParameterValue, core.ErrInvalidParameter},
		{string(mine.ID), nil, CodeMissingParameter, core.ErrInvalidParameter},
	}
	for _, tt := range tagErrs {
		wantCode(t, env.c.CreateTags(ctx, tt.id, tt.tags), tt.code, tt.s)
	}
	// Subnet tags show in DescribeSubnets (subnet discovery reads them).
	must(t, env.c.CreateTags(ctx, string(subnetB), map[string]string{"kubernetes.io/role/cni": "1"}))
	subs, err := env.c.DescribeSubnets(ctx, ports.SubnetFilter{IDs: []core.SubnetID{subnetB}})
	if err != nil || subs[0].Tags["kubernetes.io/role/cni"] != "1" {
		t.Fatalf("subnet tags = %+v, %v", subs, err)
	}
	must(t, env.c.CreateTags(ctx, string(env.inst.ID), map[string]string{"Name": "node-1"}))
}

func TestDescribeSubnets(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	tests := []struct {
		name string
		f    ports.SubnetFilter
		want []core.SubnetID
	}{
		{"all", ports.SubnetFilter{}, []core.SubnetID{subnetA, subnetTiny, subnetB, subnetC}},
		{"vpc and az", ports.SubnetFilter{VPCID: vpcID, AvailabilityZone: "us-west-2b"}, []core.SubnetID{subnetB}},
		{"ids", ports.SubnetFilter{IDs: []core.SubnetID{subnetC, subnetA}}, []core.SubnetID{subnetA, subnetC}},
		{"other vpc", ports.SubnetFilter{VPCID: "vpc-2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := env.c.DescribeSubnets(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var ids []core.SubnetID
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			if !slices.Equal(ids, tt.want) {
				t.Fatalf("ids = %v, want %v", ids, tt.want)
			}
		})
	}
	got, err := env.c.DescribeSubnets(ctx, ports.SubnetFilter{IDs: []core.SubnetID{subnetA}})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].AvailableIPs != 251-1 || got[0].IPv6CIDR != mustPrefix("2600:1f14:abc:de01::/64") {
		t.Fatalf("subnet-a = %+v, want 250 available (primary ENI uses one)", got[0])
	}
	_, err = env.c.DescribeSubnets(ctx, ports.SubnetFilter{IDs: []core.SubnetID{"subnet-zzz"}})
	wantCode(t, err, CodeSubnetNotFound, core.ErrNotFound)
}

func TestDescribeInstance(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	second, _ := env.newENI(t, 2)
	first, _ := env.newENI(t, 1)
	got, err := env.c.DescribeInstance(ctx, env.inst.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != "t3.small" || got.Region != "us-west-2" || got.AvailabilityZone != "us-west-2a" || got.VPCID != vpcID ||
		got.SubnetID != subnetA || got.PrimaryIP != mustAddr("10.0.0.4") || got.PrimaryENI != env.inst.PrimaryENI ||
		got.PrimaryMAC == "" || !slices.Equal(got.SecurityGroups, []string{"sg-1"}) {
		t.Fatalf("instance = %+v", got)
	}
	if !slices.Equal(got.VPCCIDRs, []netip.Prefix{mustPrefix("10.0.0.0/16"), mustPrefix("100.64.0.0/16")}) ||
		!slices.Equal(got.VPCIPv6CIDRs, []netip.Prefix{mustPrefix("2600:1f14:abc:de00::/56")}) {
		t.Fatalf("VPC CIDRs = %v %v", got.VPCCIDRs, got.VPCIPv6CIDRs)
	}
	var ids []core.ENIID
	for _, e := range got.ENIs {
		ids = append(ids, e.ID)
	}
	if !slices.Equal(ids, []core.ENIID{env.inst.PrimaryENI, first.ID, second.ID}) {
		t.Fatalf("ENIs in order %v", ids)
	}
	if !got.ENIs[0].Primary || !got.ENIs[0].DeleteOnTermination || got.ENIs[1].Primary {
		t.Fatalf("primary flags wrong: %+v", got.ENIs[:2])
	}
	// A VPC CIDR added later shows on the next describe.
	must(t, env.c.AddVPCCIDR(vpcID, mustPrefix("100.65.0.0/16")))
	got, _ = env.c.DescribeInstance(ctx, env.inst.ID)
	if len(got.VPCCIDRs) != 3 {
		t.Fatalf("VPC CIDRs after association = %v", got.VPCCIDRs)
	}
	_, err = env.c.DescribeInstance(ctx, "i-0nope")
	wantCode(t, err, CodeInstanceNotFound, core.ErrNotFound)
}

func TestDescribeInstanceType(t *testing.T) {
	env := newEnv(t)
	ctx := context.Background()
	got, err := env.c.DescribeInstanceType(ctx, "m5.large")
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "m5.large" || got.MaxENIs != 3 || got.IPv4PerENI != 10 || !got.PrefixDelegation() {
		t.Fatalf("m5.large = %+v", got)
	}
	_, err = env.c.DescribeInstanceType(ctx, "z9.mega")
	wantCode(t, err, CodeInvalidInstanceType, core.ErrNotFound)

	bare := New(Config{})
	_, err = bare.DescribeInstanceType(ctx, "m5.large")
	wantCode(t, err, CodeInvalidInstanceType, core.ErrNotFound)
	if _, err := bare.LaunchInstance(LaunchSpec{Type: "m5.large"}); err == nil {
		t.Fatal("launch without a type table succeeded")
	}
}
