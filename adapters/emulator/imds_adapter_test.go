package emulator

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	imdsadapter "github.com/vpc-cni/vpc-cni/adapters/imds"
	"github.com/vpc-cni/vpc-cni/core"
)

// TestIMDSAdapterSeesWhatMemorySees reads the served metadata with the
// project's IMDS adapter and compares it with memory.Metadata, the
// in-process view the HTTP tree is rendered from, before and after the
// metadata delay.
func TestIMDSAdapterSeesWhatMemorySees(t *testing.T) {
	const delay = 3 * time.Second
	h := newHarness(t, delay)
	c := ctx(t)
	client, err := imdsadapter.New(imdsadapter.Config{Endpoint: h.imdsURL, MaxAttempts: 1}, h.clk, nil)
	must(t, err)
	mem := h.cloud.Metadata(h.inst.ID)

	eni, err := h.cloud.CreateENI(c, portsReq(subnetMain, "", nil))
	must(t, err)
	_, err = h.cloud.AttachENI(c, eni.ID, h.inst.ID, 1, 0)
	must(t, err)
	_, err = h.cloud.AssignIPv4(c, eni.ID, 2, 1)
	must(t, err)
	_, err = h.cloud.AssignIPv6Prefixes(c, eni.ID, 1)
	must(t, err)

	for _, step := range []string{"before the delay", "after the delay"} {
		gotID, err := client.Identity(c)
		must(t, err)
		wantID, err := mem.Identity(c)
		must(t, err)
		if !reflect.DeepEqual(gotID, wantID) {
			t.Errorf("%s: identity %+v, memory %+v", step, gotID, wantID)
		}
		got, err := client.Interfaces(c)
		must(t, err)
		want, err := mem.Interfaces(c)
		must(t, err)
		if g, w := metadataView(got), metadataView(want); g != w {
			t.Errorf("%s: interfaces over HTTP\n%s\nmemory\n%s", step, g, w)
		}
		h.clk.Advance(delay)
	}
	v4, err := client.VPCCIDRs(c)
	must(t, err)
	if !reflect.DeepEqual(v4, h.inst.VPCCIDRs) {
		t.Errorf("VPC blocks %v, want %v", v4, h.inst.VPCCIDRs)
	}
}

// metadataView renders the fields instance metadata carries.
func metadataView(enis []core.ENI) string {
	s := ""
	for _, e := range enis {
		s += fmt.Sprintf("%s mac=%s dev=%d card=%d subnet=%s %s %s vpc=%s primary=%s/%v ips=%v v4=%v v6=%v sgs=%v\n",
			e.ID, e.MAC, e.DeviceNumber, e.NetworkCard, e.SubnetID, e.SubnetCIDR, e.SubnetIPv6CIDR, e.VPCID,
			e.PrimaryIP, e.Primary, e.SecondaryIPs, e.IPv4Prefixes, e.IPv6Prefixes, e.SecurityGroups)
	}
	return s
}
