package ec2

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/ports"
)

// stringOrList is an IAM policy field that is either "x" or ["x", "y"].
type stringOrList []string

func (s *stringOrList) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = []string{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("neither a string nor a list of strings: %w", err)
	}
	*s = many
	return nil
}

type policy struct {
	Version   string
	Statement []struct {
		Sid       string
		Effect    string
		Action    stringOrList
		Resource  stringOrList
		Condition map[string]map[string]string
	}
}

func readPolicy(t *testing.T) policy {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "iam-policy.json"))
	if err != nil {
		t.Fatalf("read policy: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var p policy
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("parse deploy/iam-policy.json: %v", err)
	}
	return p
}

// exerciseAll calls every port method once against the fake, with answers
// that let each one run its whole path.
func exerciseAll(t *testing.T, f *fakeEC2, c *Client) {
	t.Helper()
	ctx := context.Background()
	f.reply(OpCreateNetworkInterface, `<networkInterface><networkInterfaceId>eni-1</networkInterfaceId><subnetId>subnet-1</subnetId>
  <privateIpAddress>10.0.0.30</privateIpAddress></networkInterface>`)
	f.reply(OpDescribeSubnets, subnetsXML)
	f.reply(OpDescribeInstances, fmt.Sprintf(instanceXML, "running"))
	f.reply(OpDescribeVpcs, vpcXML)
	f.reply(OpAssignPrivateIPAddresses, `<assignedPrivateIpAddressesSet><item><privateIpAddress>10.0.0.7</privateIpAddress></item></assignedPrivateIpAddressesSet>`)
	f.reply(OpAssignIPv6Addresses, `<assignedIpv6PrefixSet><item>2600:1f14::/80</item></assignedIpv6PrefixSet>`)
	f.reply(OpDescribeInstanceTypes, `<instanceTypeSet><item><instanceType>m5.large</instanceType></item></instanceTypeSet>`)

	var cloud ports.Cloud = c
	steps := []struct {
		name string
		run  func() error
	}{
		{"CreateENI", func() error {
			_, err := cloud.CreateENI(ctx, ports.CreateENIRequest{SubnetID: "subnet-1", Tags: map[string]string{"a": "b"}})
			return err
		}},
		{"AttachENI", func() error { _, err := cloud.AttachENI(ctx, "eni-1", "i-1", 1, 0); return err }},
		{"SetDeleteOnTermination", func() error { return cloud.SetDeleteOnTermination(ctx, "eni-1", "att-1") }},
		{"DetachENI", func() error { return cloud.DetachENI(ctx, "att-1", false) }},
		{"DeleteENI", func() error { return cloud.DeleteENI(ctx, "eni-1") }},
		{"AssignIPv4", func() error { _, err := cloud.AssignIPv4(ctx, "eni-1", 1, 0); return err }},
		{"UnassignIPv4", func() error {
			return cloud.UnassignIPv4(ctx, "eni-1", []netip.Addr{netip.MustParseAddr("10.0.0.7")}, nil)
		}},
		{"AssignIPv6Prefixes", func() error { _, err := cloud.AssignIPv6Prefixes(ctx, "eni-1", 1); return err }},
		{"UnassignIPv6Prefixes", func() error {
			return cloud.UnassignIPv6Prefixes(ctx, "eni-1", []netip.Prefix{netip.MustParsePrefix("2600:1f14::/80")})
		}},
		{"DescribeInstance", func() error { _, err := cloud.DescribeInstance(ctx, "i-0123"); return err }},
		{"DescribeENIs", func() error { _, err := cloud.DescribeENIs(ctx, ports.ENIFilter{}); return err }},
		{"DescribeSubnets", func() error { _, err := cloud.DescribeSubnets(ctx, ports.SubnetFilter{}); return err }},
		{"DescribeInstanceType", func() error { _, err := cloud.DescribeInstanceType(ctx, "m5.large"); return err }},
		{"CreateTags", func() error { return cloud.CreateTags(ctx, "eni-1", map[string]string{"a": "b"}) }},
	}
	for _, s := range steps {
		if err := s.run(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
	}
}

// The policy grants exactly the actions the adapter calls: every port
// method is exercised, the actions that reached the server are collected,
// and they must equal both Operations() and the policy's action list.
func TestIAMPolicyMatchesCalls(t *testing.T) {
	f := newFakeEC2(t)
	c := newTestClient(t, f)
	exerciseAll(t, f, c)
	called := f.actions()
	if !reflect.DeepEqual(called, Operations()) {
		t.Fatalf("actions called:\n %v\nOperations():\n %v", called, Operations())
	}

	p := readPolicy(t)
	if p.Version != "2012-10-17" {
		t.Errorf("policy version %q", p.Version)
	}
	var granted []string
	for _, st := range p.Statement {
		if st.Effect != "Allow" {
			t.Errorf("statement %s: effect %q, want Allow", st.Sid, st.Effect)
		}
		if st.Sid == "" || len(st.Resource) == 0 {
			t.Errorf("statement %+v lacks a Sid or resources", st)
		}
		for _, a := range st.Action {
			name, ok := strings.CutPrefix(a, "ec2:")
			if !ok {
				t.Errorf("statement %s grants non-EC2 action %q", st.Sid, a)
			}
			if strings.HasPrefix(name, "Describe") && !slices.Equal(st.Resource, []string{"*"}) {
				t.Errorf("statement %s: %s supports no resource-level permissions and needs Resource \"*\"", st.Sid, a)
			}
			granted = append(granted, name)
		}
	}
	slices.Sort(granted)
	granted = slices.Compact(granted)
	if !reflect.DeepEqual(granted, Operations()) {
		t.Fatalf("policy grants:\n %v\nadapter calls:\n %v", granted, Operations())
	}

	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "iam-policy.md"))
	if err != nil {
		t.Fatalf("read docs/iam-policy.md: %v", err)
	}
	for _, op := range Operations() {
		if !strings.Contains(string(doc), "ec2:"+op) {
			t.Errorf("docs/iam-policy.md does not explain ec2:%s", op)
		}
	}
}
