package nodeipam_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// flakyMetadata fails Identity while fail is set.
type flakyMetadata struct {
	ports.Metadata
	fail bool
}

func (m *flakyMetadata) Identity(ctx context.Context) (core.InstanceIdentity, error) {
	if m.fail {
		return core.InstanceIdentity{}, errors.New("imds: 500 internal error")
	}
	return m.Metadata.Identity(ctx)
}

// cidrMetadata answers VPCCIDRs on its own, as the instance metadata
// client does.
type cidrMetadata struct {
	ports.Metadata
	cidrs []netip.Prefix
	err   error
	reads int
}

func (m *cidrMetadata) VPCCIDRs(context.Context) ([]netip.Prefix, error) {
	m.reads++
	return m.cidrs, m.err
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A CIDR block associated with the VPC after start is picked up from
// instance metadata by the periodic passes; a failed read keeps the list.
func TestVPCCIDRsAreReadAgain(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	md := &flakyMetadata{Metadata: n.cloud.Metadata(n.inst.ID)}
	cfg := fastConfig()
	svc, err := nodeipam.New(cfg, nodeipam.Deps{Cloud: n.cloud, Metadata: md, Clock: n.clock, Checkpoint: n.ckpt})
	must(t, err)
	_, err = svc.Init(context.Background())
	must(t, err)
	ctx := context.Background()
	if got := fmt.Sprint(svc.VPCCIDRs()); got != "[10.0.0.0/16]" {
		t.Fatalf("VPC CIDRs at start %s", got)
	}
	changed := svc.VPCCIDRsChanged()
	must(t, n.cloud.AddVPCCIDR("vpc-1", netip.MustParsePrefix("100.64.0.0/16")))

	md.fail = true
	n.clock.Advance(cfg.VPCCIDRInterval)
	_, _ = svc.Step(ctx)
	if got := fmt.Sprint(svc.VPCCIDRs()); got != "[10.0.0.0/16]" || closed(changed) {
		t.Fatalf("VPC CIDRs %s after a failed metadata read, want the old list kept", got)
	}

	md.fail = false
	n.clock.Advance(cfg.VPCCIDRInterval)
	_, _ = svc.Step(ctx)
	want := "[10.0.0.0/16 100.64.0.0/16]"
	if got := fmt.Sprint(svc.VPCCIDRs()); got != want {
		t.Fatalf("VPC CIDRs %s after the block was associated, want %s", got, want)
	}
	if got := fmt.Sprint(svc.Instance().VPCCIDRs); got != want {
		t.Fatalf("instance VPC CIDRs %s, want %s", got, want)
	}
	if !closed(changed) {
		t.Fatal("VPCCIDRsChanged not signalled")
	}
	// No change, no signal.
	changed = svc.VPCCIDRsChanged()
	n.clock.Advance(cfg.VPCCIDRInterval)
	_, _ = svc.Step(ctx)
	if closed(changed) {
		t.Fatal("VPCCIDRsChanged signalled although nothing changed")
	}
}

// With a metadata client that reads the VPC CIDRs alone, that read is
// used; an empty or failed answer keeps the list.
func TestVPCCIDRsUseTheDedicatedRead(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	md := &cidrMetadata{Metadata: n.cloud.Metadata(n.inst.ID)}
	svc, err := nodeipam.New(fastConfig(), nodeipam.Deps{Cloud: n.cloud, Metadata: md, Clock: n.clock, Checkpoint: n.ckpt})
	must(t, err)
	_, err = svc.Init(context.Background())
	must(t, err)
	ctx := context.Background()
	for _, tc := range []struct {
		cidrs   []netip.Prefix
		err     error
		changed bool
		want    string
	}{
		{nil, errors.New("timeout"), false, "[10.0.0.0/16]"},
		{nil, nil, false, "[10.0.0.0/16]"},
		{[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")}, nil, true, "[10.0.0.0/16 100.64.0.0/16]"},
		{[]netip.Prefix{netip.MustParsePrefix("100.64.0.0/16"), netip.MustParsePrefix("10.0.0.0/16")}, nil, false, "[10.0.0.0/16 100.64.0.0/16]"},
		{[]netip.Prefix{netip.MustParsePrefix("10.0.0.0/16")}, nil, true, "[10.0.0.0/16]"},
	} {
		md.cidrs, md.err = tc.cidrs, tc.err
		changed, err := svc.RefreshVPCCIDRs(ctx)
		if (err != nil) != (tc.err != nil) || changed != tc.changed {
			t.Errorf("read %v/%v: changed=%v err=%v, want changed=%v", tc.cidrs, tc.err, changed, err, tc.changed)
		}
		if got := fmt.Sprint(svc.VPCCIDRs()); got != tc.want {
			t.Errorf("read %v/%v: VPC CIDRs %s, want %s", tc.cidrs, tc.err, got, tc.want)
		}
	}
	if md.reads != 5 {
		t.Errorf("%d dedicated reads, want 5", md.reads)
	}
}
