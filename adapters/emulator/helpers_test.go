package emulator

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/smithy-go"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/limits"
	"github.com/vpc-cni/vpc-cni/ports"
)

var epoch = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

const (
	testVPC    = "vpc-0aaaaaaaaaaaaaaa1"
	subnetMain = core.SubnetID("subnet-0aaaaaaaaaaaaaaa1") // 10.0.0.0/24 + IPv6 /64
	subnetTiny = core.SubnetID("subnet-0aaaaaaaaaaaaaaa2") // 10.0.1.0/28
	subnetB    = core.SubnetID("subnet-0aaaaaaaaaaaaaaa3") // 10.0.2.0/24, other zone
	sgDefault  = "sg-0aaaaaaaaaaaaaaa1"
)

// harness is a region with one t3.small served over httptest, and the real
// SDK clients pointed at it.
type harness struct {
	cloud *memory.Cloud
	clk   *memory.VirtualClock
	srv   *Server
	inst  core.Instance
	ec2   *ec2.Client
	imds  *imds.Client
	// ec2URL and imdsURL are the httptest base URLs.
	ec2URL, imdsURL string
	attached        []core.ENI
	detached        []core.ENI
}

func newHarness(t *testing.T, imdsDelay time.Duration) *harness {
	t.Helper()
	h := &harness{clk: memory.NewVirtualClock(epoch)}
	h.cloud = memory.New(memory.Config{Clock: h.clk, InstanceTypes: limits.Lookup, Seed: 7, IMDSDelay: imdsDelay})
	must(t, h.cloud.AddVPC(testVPC,
		netip.MustParsePrefix("10.0.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/16"),
		netip.MustParsePrefix("2600:1f14:abc:de00::/56")))
	for _, s := range []core.Subnet{
		{ID: subnetMain, VPCID: testVPC, AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.0.0/24"),
			IPv6CIDR: netip.MustParsePrefix("2600:1f14:abc:de01::/64"), Tags: map[string]string{"kubernetes.io/role/cni": "1"}},
		{ID: subnetTiny, VPCID: testVPC, AvailabilityZone: "us-west-2a", CIDR: netip.MustParsePrefix("10.0.1.0/28")},
		{ID: subnetB, VPCID: testVPC, AvailabilityZone: "us-west-2b", CIDR: netip.MustParsePrefix("10.0.2.0/24")},
	} {
		if _, err := h.cloud.AddSubnet(s); err != nil {
			t.Fatal(err)
		}
	}
	inst, err := h.cloud.LaunchInstance(memory.LaunchSpec{Type: "t3.small", SubnetID: subnetMain, SecurityGroups: []string{sgDefault}})
	if err != nil {
		t.Fatal(err)
	}
	h.inst = inst
	h.srv, err = New(Config{
		Cloud:    h.cloud,
		Instance: inst.ID,
		OnAttach: func(e core.ENI) { h.attached = append(h.attached, e) },
		OnDetach: func(e core.ENI) { h.detached = append(h.detached, e) },
	})
	if err != nil {
		t.Fatal(err)
	}
	ec2Srv := httptest.NewServer(h.srv.EC2Handler())
	t.Cleanup(ec2Srv.Close)
	imdsSrv := httptest.NewServer(h.srv.IMDSHandler(inst.ID))
	t.Cleanup(imdsSrv.Close)
	h.ec2URL, h.imdsURL = ec2Srv.URL, imdsSrv.URL
	h.ec2 = newEC2Client(h.ec2URL)
	h.imds = imds.New(imds.Options{Endpoint: h.imdsURL, ClientEnableState: imds.ClientEnabled})
	return h
}

// newEC2Client builds the real SDK client against the emulator; retries
// are off so every error reaches the test as EC2 sent it.
func newEC2Client(url string) *ec2.Client {
	return ec2.New(ec2.Options{
		Region:           "us-west-2",
		BaseEndpoint:     aws.String(url),
		Credentials:      credentials.NewStaticCredentialsProvider("AKIDTEST", "secret", ""),
		RetryMaxAttempts: 1,
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode checks that err is an EC2 API error with the code and a
// request id.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v is not an API error; want %s", err, code)
	}
	if apiErr.ErrorCode() != code {
		t.Fatalf("error code %s (%v), want %s", apiErr.ErrorCode(), err, code)
	}
	var re interface{ ServiceRequestID() string }
	if !errors.As(err, &re) || re.ServiceRequestID() == "" {
		t.Fatalf("error %v carries no request id", err)
	}
}

func ctx(t *testing.T) context.Context {
	t.Helper()
	return t.Context()
}

func portsReq(subnet core.SubnetID, desc string, tags map[string]string) ports.CreateENIRequest {
	return ports.CreateENIRequest{SubnetID: subnet, Description: desc, Tags: tags, SecurityGroups: []string{sgDefault}}
}

func launchSpec(typ string) memory.LaunchSpec {
	return memory.LaunchSpec{Type: typ, SubnetID: subnetMain, SecurityGroups: []string{sgDefault}}
}
