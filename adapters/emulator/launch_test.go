package emulator

import (
	"errors"
	"io"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
)

func TestNewNode(t *testing.T) {
	cases := []struct {
		name    string
		cfg     NodeConfig
		wantErr error
	}{
		{"unknown type", NodeConfig{InstanceType: "z9.huge"}, core.ErrUnknownInstanceType},
		{"no type", NodeConfig{}, core.ErrInvalidParameter},
		{"subnet outside the VPC", NodeConfig{InstanceType: "t3.small", SubnetCIDR: netip.MustParsePrefix("192.168.0.0/24")}, core.ErrInvalidParameter},
		{"IPv6 not a /64", NodeConfig{InstanceType: "t3.small", SubnetIPv6CIDR: netip.MustParsePrefix("2600::/56")}, core.ErrInvalidParameter},
		{"defaults", NodeConfig{InstanceType: "t3.small"}, nil},
		{"custom", NodeConfig{InstanceType: "m5.large", Region: "eu-west-1", VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")},
			SubnetCIDR: netip.MustParsePrefix("10.1.4.0/22"), SubnetIPv6CIDR: netip.MustParsePrefix("2600:1f14:abc:de01::/64")}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n, err := NewNode(tc.cfg)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error %v, want %v", err, tc.wantErr)
				}
				if tc.cfg.InstanceType != "" && tc.wantErr == core.ErrUnknownInstanceType && !strings.Contains(err.Error(), tc.cfg.InstanceType) {
					t.Fatalf("error %q does not name the type", err)
				}
				return
			}
			must(t, err)
			in := n.Instance
			wantSubnet := cmpOr(tc.cfg.SubnetCIDR, netip.MustParsePrefix("10.0.0.0/24"))
			if in.Type != tc.cfg.InstanceType || in.Region != cmpOr(tc.cfg.Region, "us-west-2") || n.Subnet.CIDR != wantSubnet ||
				!wantSubnet.Contains(in.PrimaryIP) || in.PrimaryMAC == "" || len(in.ENIs) != 1 || n.Subnet.IPv6CIDR != tc.cfg.SubnetIPv6CIDR {
				t.Fatalf("node %+v / subnet %+v", in, n.Subnet)
			}
			if tc.cfg.VPCCIDRs != nil && !slices.Equal(in.VPCCIDRs, tc.cfg.VPCCIDRs) {
				t.Fatalf("VPC blocks %v, want %v", in.VPCCIDRs, tc.cfg.VPCCIDRs)
			}
			if _, ok := n.Cloud.Clock().(memory.RealClock); !ok {
				t.Fatalf("clock %T, want real time for an HTTP emulator", n.Cloud.Clock())
			}
		})
	}
}

func cmpOr[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// TestServeNode is what `vpc-cni emulator` does, checked with the SDK
// clients configured the way a process would configure them from Env.
func TestServeNode(t *testing.T) {
	n, err := NewNode(NodeConfig{InstanceType: "t3.small", IMDSDelay: time.Hour, Latency: map[string]time.Duration{memory.OpCreateTags: time.Millisecond}})
	must(t, err)
	srv, err := New(Config{Cloud: n.Cloud, Instance: n.Instance.ID})
	must(t, err)
	ec2URL, imdsURL, err := srv.Start(ctx(t), "127.0.0.1:0", "localhost:0")
	must(t, err)
	t.Cleanup(func() { srv.Close() })
	env := map[string]string{}
	for _, e := range Env(ec2URL, imdsURL, n.Cloud.Region()) {
		env[e.Name] = e.Value
	}
	for _, k := range []string{"AWS_ENDPOINT_URL_EC2", "AWS_EC2_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if env[k] == "" {
			t.Errorf("Env lacks %s: %v", k, env)
		}
	}
	c := newEC2Client(env["AWS_ENDPOINT_URL_EC2"])
	eni, err := c.CreateNetworkInterface(ctx(t), &ec2.CreateNetworkInterfaceInput{SubnetId: aws.String(string(n.Subnet.ID))})
	must(t, err)
	_, err = c.AttachNetworkInterface(ctx(t), &ec2.AttachNetworkInterfaceInput{NetworkInterfaceId: eni.NetworkInterface.NetworkInterfaceId,
		InstanceId: aws.String(string(n.Instance.ID)), DeviceIndex: aws.Int32(1)})
	must(t, err)
	vpcs, err := c.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{VpcIds: []string{n.Instance.VPCID}})
	must(t, err)
	if len(vpcs.Vpcs) != 1 || aws.ToString(vpcs.Vpcs[0].CidrBlock) != "10.0.0.0/16" || len(vpcs.Vpcs[0].CidrBlockAssociationSet) != 1 {
		t.Fatalf("DescribeVpcs: %+v", vpcs.Vpcs)
	}
	_, err = c.DescribeVpcs(ctx(t), &ec2.DescribeVpcsInput{VpcIds: []string{"vpc-0ffffffffffffffff"}})
	wantCode(t, err, "InvalidVpcID.NotFound")

	md := imds.New(imds.Options{Endpoint: env["AWS_EC2_METADATA_SERVICE_ENDPOINT"], ClientEnableState: imds.ClientEnabled})
	out, err := md.GetMetadata(ctx(t), &imds.GetMetadataInput{Path: "network/interfaces/macs/"})
	must(t, err)
	defer out.Content.Close()
	b, err := io.ReadAll(out.Content)
	must(t, err)
	// Metadata lags an hour of real time: the new ENI is not there yet.
	if got := string(b); got != n.Instance.PrimaryMAC+"/" {
		t.Fatalf("macs %q, want only the primary's", got)
	}
}
