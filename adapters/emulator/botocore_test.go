package emulator

import (
	"compress/gzip"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// This file checks the emulator against the EC2 service model that
// botocore ships (Debian: python3-botocore), so the wire format is judged
// by AWS's own description rather than by our reading of it:
//
//   - every action the emulator serves exists in the model;
//   - every parameter our valid requests use is a member of the model's
//     input shape, named as the ec2 protocol serializes it (queryName, else
//     locationName with an upper-case first letter, else the member name;
//     lists flattened as Name.N);
//   - leaving out any member the model marks required gives MissingParameter;
//   - every element of every response is a member of the model's output
//     shape under its XML name (locationName, else the member name), lists
//     hold their member's element name ("item"), and scalars parse as their
//     model type.

const botocoreDir = "/usr/lib/python3/dist-packages/botocore/data/ec2"

type modelRef struct {
	Shape        string `json:"shape"`
	LocationName string `json:"locationName"`
	QueryName    string `json:"queryName"`
}

type modelShape struct {
	Type      string              `json:"type"`
	Members   map[string]modelRef `json:"members"`
	Required  []string            `json:"required"`
	Member    *modelRef           `json:"member"`
	Flattened bool                `json:"flattened"`
}

type model struct {
	Metadata struct {
		Protocol   string `json:"protocol"`
		APIVersion string `json:"apiVersion"`
	} `json:"metadata"`
	Operations map[string]struct {
		Input  *modelRef `json:"input"`
		Output *modelRef `json:"output"`
	} `json:"operations"`
	Shapes map[string]modelShape `json:"shapes"`
}

// loadModel reads the newest EC2 model botocore has, or skips.
func loadModel(t *testing.T) *model {
	t.Helper()
	var files []string
	for _, pat := range []string{"*/service-2.json", "*/service-2.json.gz"} {
		m, _ := filepath.Glob(filepath.Join(botocoreDir, pat))
		files = append(files, m...)
	}
	if len(files) == 0 {
		t.Skipf("no EC2 service model under %s: install python3-botocore (apt-get install -y python3-botocore) to run the conformance check", botocoreDir)
	}
	// Version directories are dates (2016-11-15): the newest sorts last.
	slices.SortFunc(files, func(a, b string) int { return strings.Compare(filepath.Dir(a), filepath.Dir(b)) })
	path := files[len(files)-1]
	f, err := os.Open(path)
	must(t, err)
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		zr, err := gzip.NewReader(f)
		must(t, err)
		r = zr
	}
	var m model
	if err := json.NewDecoder(r).Decode(&m); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if m.Metadata.Protocol != "ec2" || m.Metadata.APIVersion != "2016-11-15" {
		t.Fatalf("%s: protocol %q version %q, want ec2 2016-11-15", path, m.Metadata.Protocol, m.Metadata.APIVersion)
	}
	t.Logf("EC2 model %s", path)
	return &m
}

// queryName is the parameter name of a member in the ec2 protocol.
func queryName(name string, ref modelRef) string {
	switch {
	case ref.QueryName != "":
		return ref.QueryName
	case ref.LocationName != "":
		return strings.ToUpper(ref.LocationName[:1]) + ref.LocationName[1:]
	}
	return name
}

// xmlName is the element name of a member in an ec2 protocol response.
func xmlName(name string, ref modelRef) string {
	if ref.LocationName != "" {
		return ref.LocationName
	}
	return name
}

// checkParam resolves a request parameter (Filter.1.Value.2) against an
// input shape.
func (m *model) checkParam(shape, key string) error {
	parts := strings.Split(key, ".")
	cur := m.Shapes[shape]
	for i := 0; i < len(parts); i++ {
		if cur.Type != "structure" {
			return fmt.Errorf("%s: %s is a %s, not a structure", key, strings.Join(parts[:i], "."), cur.Type)
		}
		var next *modelShape
		for name, ref := range cur.Members {
			if queryName(name, ref) == parts[i] {
				s := m.Shapes[ref.Shape]
				next = &s
				break
			}
		}
		if next == nil {
			return fmt.Errorf("%s: no member serialized as %q", key, parts[i])
		}
		cur = *next
		if cur.Type == "list" {
			i++
			if i >= len(parts) {
				return fmt.Errorf("%s: list without an index", key)
			}
			if n, err := strconv.Atoi(parts[i]); err != nil || n < 1 {
				return fmt.Errorf("%s: list index %q", key, parts[i])
			}
			cur = m.Shapes[cur.Member.Shape]
		}
	}
	if cur.Type == "structure" || cur.Type == "list" {
		return fmt.Errorf("%s: names a %s, not a value", key, cur.Type)
	}
	return nil
}

// xmlNode is a parsed response element.
type xmlNode struct {
	name string
	text string
	kids []*xmlNode
}

func parseXML(t *testing.T, body string) *xmlNode {
	t.Helper()
	dec := xml.NewDecoder(strings.NewReader(body))
	var stack []*xmlNode
	var root *xmlNode
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("parse response: %v\n%s", err, body)
		}
		switch v := tok.(type) {
		case xml.StartElement:
			n := &xmlNode{name: v.Name.Local}
			if len(stack) > 0 {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			} else {
				root = n
				if v.Name.Space != xmlns {
					t.Errorf("root %s in namespace %q, want %q", v.Name.Local, v.Name.Space, xmlns)
				}
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) > 0 {
				stack[len(stack)-1].text += string(v)
			}
		}
	}
	return root
}

// checkOutput walks a response element against a shape; path names it in
// messages. It records every member name seen, for coverage reporting.
func (m *model) checkOutput(t *testing.T, path string, n *xmlNode, shape string) {
	t.Helper()
	s := m.Shapes[shape]
	switch s.Type {
	case "structure":
		for _, kid := range n.kids {
			found := ""
			for name, ref := range s.Members {
				if xmlName(name, ref) == kid.name {
					found = ref.Shape
					break
				}
			}
			if found == "" {
				t.Errorf("%s/%s: not a member of %s", path, kid.name, shape)
				continue
			}
			m.checkOutput(t, path+"/"+kid.name, kid, found)
		}
	case "list":
		want := "member"
		if s.Member.LocationName != "" {
			want = s.Member.LocationName
		}
		for _, kid := range n.kids {
			if kid.name != want {
				t.Errorf("%s/%s: list %s holds <%s> elements", path, kid.name, shape, want)
				continue
			}
			m.checkOutput(t, path+"/"+kid.name, kid, s.Member.Shape)
		}
	default:
		if len(n.kids) > 0 {
			t.Errorf("%s: %s is a %s but has child elements", path, shape, s.Type)
			return
		}
		v := n.text
		var err error
		switch s.Type {
		case "integer", "long":
			_, err = strconv.ParseInt(v, 10, 64)
		case "boolean":
			if v != "true" && v != "false" {
				err = fmt.Errorf("not true/false")
			}
		case "timestamp":
			_, err = time.Parse(time.RFC3339, v)
		}
		if err != nil {
			t.Errorf("%s: %q is not a valid %s: %v", path, v, s.Type, err)
		}
	}
}

// conformanceRequests builds valid requests, at least one per action, on
// a fresh harness (each may change the region).
var conformanceRequests = []struct {
	name  string
	build func(t *testing.T, h *harness) url.Values
}{
	{"DescribeInstances", func(t *testing.T, h *harness) url.Values {
		h.addAttached(t)
		return url.Values{"InstanceId.1": {string(h.inst.ID)}}
	}},
	{"DescribeInstanceTypes", func(t *testing.T, h *harness) url.Values {
		return url.Values{"InstanceType.1": {"t3.small"}, "InstanceType.2": {"m5.large"}}
	}},
	{"DescribeSubnets", func(t *testing.T, h *harness) url.Values {
		return url.Values{"MaxResults": {"5"}, "Filter.1.Name": {"vpc-id"}, "Filter.1.Value.1": {testVPC}}
	}},
	{"DescribeVpcs", func(t *testing.T, h *harness) url.Values {
		return url.Values{"VpcId.1": {testVPC}}
	}},
	{"DescribeNetworkInterfaces", func(t *testing.T, h *harness) url.Values {
		h.addAttached(t)
		for range 5 {
			h.addAvailable(t)
		}
		return url.Values{"MaxResults": {"5"}, "Filter.1.Name": {"vpc-id"}, "Filter.1.Value.1": {testVPC},
			"Filter.2.Name": {"tag-key"}, "Filter.2.Value.1": {"*"}, "Filter.2.Value.2": {"other"}}
	}},
	{"DescribeNetworkInterfaces", func(t *testing.T, h *harness) url.Values {
		return url.Values{"NetworkInterfaceId.1": {string(h.addAttached(t).ID)}}
	}},
	{"CreateNetworkInterface", func(t *testing.T, h *harness) url.Values {
		return url.Values{"SubnetId": {string(subnetMain)}, "SecurityGroupId.1": {sgDefault}, "Description": {"aws-K8S-i-1"},
			"SecondaryPrivateIpAddressCount": {"2"}, "Ipv6PrefixCount": {"1"}, "ClientToken": {fmt.Sprint(time.Now().UnixNano())},
			"TagSpecification.1.ResourceType": {"network-interface"}, "TagSpecification.1.Tag.1.Key": {core.TagInstanceID},
			"TagSpecification.1.Tag.1.Value": {"i-1"}}
	}},
	{"CreateNetworkInterface", func(t *testing.T, h *harness) url.Values {
		return url.Values{"SubnetId": {string(subnetMain)}, "Ipv4PrefixCount": {"1"}}
	}},
	{"AttachNetworkInterface", func(t *testing.T, h *harness) url.Values {
		return url.Values{"NetworkInterfaceId": {string(h.addAvailable(t).ID)}, "InstanceId": {string(h.inst.ID)},
			"DeviceIndex": {"1"}, "NetworkCardIndex": {"0"}}
	}},
	{"ModifyNetworkInterfaceAttribute", func(t *testing.T, h *harness) url.Values {
		e := h.addAttached(t)
		return url.Values{"NetworkInterfaceId": {string(e.ID)}, "Attachment.AttachmentId": {e.AttachmentID},
			"Attachment.DeleteOnTermination": {"true"}}
	}},
	{"DetachNetworkInterface", func(t *testing.T, h *harness) url.Values {
		return url.Values{"AttachmentId": {h.addAttached(t).AttachmentID}, "Force": {"true"}}
	}},
	{"DeleteNetworkInterface", func(t *testing.T, h *harness) url.Values {
		return url.Values{"NetworkInterfaceId": {string(h.addAvailable(t).ID)}, "DryRun": {"false"}}
	}},
	{"AssignPrivateIpAddresses", func(t *testing.T, h *harness) url.Values {
		return url.Values{"NetworkInterfaceId": {string(h.addAttached(t).ID)}, "SecondaryPrivateIpAddressCount": {"1"}}
	}},
	{"AssignPrivateIpAddresses", func(t *testing.T, h *harness) url.Values {
		return url.Values{"NetworkInterfaceId": {string(h.addAttached(t).ID)}, "Ipv4PrefixCount": {"1"}, "AllowReassignment": {"false"}}
	}},
	{"UnassignPrivateIpAddresses", func(t *testing.T, h *harness) url.Values {
		e := h.addAttached(t)
		return url.Values{"NetworkInterfaceId": {string(e.ID)}, "PrivateIpAddress.1": {e.SecondaryIPs[0].String()},
			"Ipv4Prefix.1": {e.IPv4Prefixes[0].String()}}
	}},
	{"AssignIpv6Addresses", func(t *testing.T, h *harness) url.Values {
		return url.Values{"NetworkInterfaceId": {string(h.addAttached(t).ID)}, "Ipv6PrefixCount": {"1"}}
	}},
	{"UnassignIpv6Addresses", func(t *testing.T, h *harness) url.Values {
		e := h.addAttached(t)
		return url.Values{"NetworkInterfaceId": {string(e.ID)}, "Ipv6Prefix.1": {e.IPv6Prefixes[0].String()}}
	}},
	{"CreateTags", func(t *testing.T, h *harness) url.Values {
		return url.Values{"ResourceId.1": {string(h.addAvailable(t).ID)}, "ResourceId.2": {string(subnetMain)},
			"Tag.1.Key": {"team"}, "Tag.1.Value": {"net"}, "Tag.2.Key": {"empty"}}
	}},
}

// addAttached adds an ENI at the next free device with a secondary
// address, a /28, a /80 and tags, out of band.
func (h *harness) addAttached(t *testing.T) core.ENI {
	t.Helper()
	e := h.addAvailable(t)
	if _, err := h.cloud.AttachENI(ctx(t), e.ID, h.inst.ID, len(h.cloud.ENIsOf(h.inst.ID)), 0); err != nil {
		t.Fatal(err)
	}
	h.srv.Sync()
	got, _ := h.cloud.ENI(e.ID)
	return got
}

func (h *harness) addAvailable(t *testing.T) core.ENI {
	t.Helper()
	req := portsReq(subnetMain, "conformance", map[string]string{core.TagInstanceID: string(h.inst.ID)})
	e, err := h.cloud.CreateENI(ctx(t), req)
	must(t, err)
	if _, err := h.cloud.AssignIPv4(ctx(t), e.ID, 1, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cloud.AssignIPv4(ctx(t), e.ID, 0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := h.cloud.AssignIPv6Prefixes(ctx(t), e.ID, 1); err != nil {
		t.Fatal(err)
	}
	got, _ := h.cloud.ENI(e.ID)
	return got
}

func TestBotocoreConformance(t *testing.T) {
	m := loadModel(t)
	covered := map[string]bool{}
	for _, rq := range conformanceRequests {
		covered[rq.name] = true
	}
	for _, action := range Actions() {
		if _, ok := m.Operations[action]; !ok {
			t.Errorf("the emulator serves %s, which the EC2 model does not have", action)
		}
		if !covered[action] {
			t.Errorf("no conformance request for %s", action)
		}
	}

	for i, rq := range conformanceRequests {
		op := m.Operations[rq.name]
		if op.Input == nil {
			t.Fatalf("%s has no input shape", rq.name)
		}
		t.Run(fmt.Sprintf("%s/%d", rq.name, i), func(t *testing.T) {
			h := newHarness(t, 0)
			form := rq.build(t, h)
			for key := range form {
				if err := m.checkParam(op.Input.Shape, key); err != nil {
					t.Errorf("request parameter: %v", err)
				}
			}
			form.Set("Action", rq.name)
			form.Set("Version", "2016-11-15")
			status, body := post(t, h.ec2URL, form)
			if status != 200 {
				t.Fatalf("valid request %v: HTTP %d\n%s", form, status, body)
			}
			root := parseXML(t, body)
			if root.name != rq.name+"Response" {
				t.Fatalf("root element %s", root.name)
			}
			var rest []*xmlNode
			for _, kid := range root.kids {
				switch {
				case kid.name == "requestId" && kid.text != "":
				case kid.name == "return" && op.Output == nil && kid.text == "true":
				default:
					rest = append(rest, kid)
				}
			}
			if op.Output == nil {
				for _, kid := range rest {
					t.Errorf("%s has no output shape but the response has <%s>", rq.name, kid.name)
				}
				return
			}
			root.kids = rest
			m.checkOutput(t, root.name, root, op.Output.Shape)
		})
	}
}

func TestBotocoreRequiredMembers(t *testing.T) {
	m := loadModel(t)
	seen := map[string]bool{}
	for _, rq := range conformanceRequests {
		if seen[rq.name] {
			continue // the first request of each action is enough
		}
		seen[rq.name] = true
		in := m.Shapes[m.Operations[rq.name].Input.Shape]
		for _, member := range in.Required {
			name := queryName(member, in.Members[member])
			t.Run(rq.name+"/"+name, func(t *testing.T) {
				h := newHarness(t, 0)
				form := rq.build(t, h)
				h.cloud.ResetCalls()
				removed := false
				for key := range form {
					if key == name || strings.HasPrefix(key, name+".") {
						form.Del(key)
						removed = true
					}
				}
				if !removed {
					t.Fatalf("the valid request for %s does not set the required %s", rq.name, name)
				}
				form.Set("Action", rq.name)
				form.Set("Version", "2016-11-15")
				status, body := post(t, h.ec2URL, form)
				if status != 400 || !strings.Contains(body, "<Code>MissingParameter</Code>") {
					t.Fatalf("without %s: HTTP %d %s, want 400 MissingParameter", name, status, body)
				}
				if calls := h.cloud.Calls(); len(calls) != 0 {
					t.Fatalf("a request missing %s reached the cloud: %v", name, calls)
				}
			})
		}
	}
}
