package emulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/vpc-cni/vpc-cni/core"
)

// get reads one metadata path with the SDK client; missing paths come
// back as ("", 404).
func (h *harness) get(t *testing.T, path string) (string, int) {
	t.Helper()
	out, err := h.imds.GetMetadata(ctx(t), &imds.GetMetadataInput{Path: path})
	if err != nil {
		var re *smithyhttp.ResponseError
		if errors.As(err, &re) {
			return "", re.HTTPStatusCode()
		}
		t.Fatalf("GET %s: %v", path, err)
	}
	defer out.Content.Close()
	b, err := io.ReadAll(out.Content)
	must(t, err)
	return string(b), 200
}

func (h *harness) mustGet(t *testing.T, path string) string {
	t.Helper()
	v, status := h.get(t, path)
	if status != 200 {
		t.Fatalf("GET %s: HTTP %d", path, status)
	}
	return v
}

func TestIMDSServesTheInstance(t *testing.T) {
	h := newHarness(t, 0)
	c := ctx(t)
	doc, err := h.imds.GetInstanceIdentityDocument(c, &imds.GetInstanceIdentityDocumentInput{})
	must(t, err)
	if doc.InstanceID != string(h.inst.ID) || doc.InstanceType != "t3.small" || doc.Region != "us-west-2" ||
		doc.AvailabilityZone != "us-west-2a" || doc.PrivateIP != h.inst.PrimaryIP.String() || doc.AccountID != DefaultAccountID {
		t.Fatalf("identity document %+v", doc.InstanceIdentityDocument)
	}
	region, err := h.imds.GetRegion(c, &imds.GetRegionInput{})
	must(t, err)
	if region.Region != "us-west-2" {
		t.Fatalf("region %q", region.Region)
	}

	mac := h.inst.PrimaryMAC
	d := "network/interfaces/macs/" + mac + "/"
	want := map[string]string{
		"instance-id":                 string(h.inst.ID),
		"instance-type":               "t3.small",
		"local-ipv4":                  h.inst.PrimaryIP.String(),
		"mac":                         mac,
		"placement/availability-zone": "us-west-2a",
		"placement/region":            "us-west-2",
		"network/interfaces/macs/":    mac + "/",
		d + "device-number":           "0",
		d + "network-card":            "0",
		d + "interface-id":            string(h.inst.PrimaryENI),
		d + "local-ipv4s":             h.inst.PrimaryIP.String(),
		d + "subnet-id":               string(subnetMain),
		d + "subnet-ipv4-cidr-block":  "10.0.0.0/24",
		d + "subnet-ipv6-cidr-blocks": "2600:1f14:abc:de01::/64",
		d + "vpc-id":                  testVPC,
		d + "vpc-ipv4-cidr-block":     "10.0.0.0/16",
		d + "vpc-ipv4-cidr-blocks":    "10.0.0.0/16\n100.64.0.0/16",
		d + "vpc-ipv6-cidr-blocks":    "2600:1f14:abc:de00::/56",
		d + "security-group-ids":      sgDefault,
	}
	for path, v := range want {
		if got := h.mustGet(t, path); got != v {
			t.Errorf("%s = %q, want %q", path, got, v)
		}
	}
	for _, path := range []string{d + "ipv4-prefix", d + "ipv6-prefix", d + "ipv6s", "no-such-thing", "network/interfaces/macs/02:00:00:00:00:99/device-number"} {
		if _, status := h.get(t, path); status != 404 {
			t.Errorf("%s: HTTP %d, want 404", path, status)
		}
	}
	listing := h.mustGet(t, d)
	for _, key := range []string{"device-number", "interface-id", "local-ipv4s", "subnet-id", "vpc-ipv4-cidr-blocks"} {
		if !strings.Contains("\n"+listing+"\n", "\n"+key+"\n") {
			t.Errorf("listing of %s lacks %s:\n%s", d, key, listing)
		}
	}
	if strings.Contains(listing, "ipv4-prefix") {
		t.Errorf("listing of %s shows ipv4-prefix without prefixes:\n%s", d, listing)
	}
	root := h.mustGet(t, "")
	for _, key := range []string{"instance-id", "mac", "network/", "placement/"} {
		if !strings.Contains("\n"+root+"\n", "\n"+key+"\n") {
			t.Errorf("meta-data listing lacks %s:\n%s", key, root)
		}
	}
}

func TestIMDSLagsEC2(t *testing.T) {
	const delay = 5 * time.Second
	h := newHarness(t, delay)
	c := ctx(t)
	eni, err := h.cloud.CreateENI(c, portsReq(subnetMain, "", nil))
	must(t, err)
	_, err = h.cloud.AttachENI(c, eni.ID, h.inst.ID, 1, 0)
	must(t, err)
	got, err := h.cloud.AssignIPv4(c, eni.ID, 0, 1)
	must(t, err)

	if macs := h.mustGet(t, "network/interfaces/macs/"); strings.Contains(macs, eni.MAC) {
		t.Fatalf("ENI visible in metadata before the delay: %q", macs)
	}
	h.clk.Advance(delay)
	macs := h.mustGet(t, "network/interfaces/macs/")
	if macs != h.inst.PrimaryMAC+"/\n"+eni.MAC+"/" && macs != eni.MAC+"/\n"+h.inst.PrimaryMAC+"/" {
		t.Fatalf("macs after the delay: %q", macs)
	}
	d := "network/interfaces/macs/" + eni.MAC + "/"
	if v := h.mustGet(t, d+"device-number"); v != "1" {
		t.Errorf("device-number %q", v)
	}
	if v := h.mustGet(t, d+"ipv4-prefix"); v != got.Prefixes[0].String() {
		t.Errorf("ipv4-prefix %q, want %s", v, got.Prefixes[0])
	}

	// An address assigned now shows only after the delay, primary first.
	more, err := h.cloud.AssignIPv4(c, eni.ID, 1, 0)
	must(t, err)
	if v := h.mustGet(t, d+"local-ipv4s"); v != eni.PrimaryIP.String() {
		t.Errorf("local-ipv4s before the delay %q", v)
	}
	h.clk.Advance(delay)
	if v, want := h.mustGet(t, d+"local-ipv4s"), eni.PrimaryIP.String()+"\n"+more.IPs[0].String(); v != want {
		t.Errorf("local-ipv4s %q, want %q", v, want)
	}
}

func TestIMDSRequiresTokens(t *testing.T) {
	h := newHarness(t, 0)
	var wall atomic.Int64 // the server's wall clock, in Unix seconds
	wall.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	h.srv.now = func() time.Time { return time.Unix(wall.Load(), 0) }
	get := func(tok string) int {
		req, _ := http.NewRequest(http.MethodGet, h.imdsURL+"/latest/meta-data/instance-id", nil)
		if tok != "" {
			req.Header.Set("X-aws-ec2-metadata-token", tok)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		resp.Body.Close()
		return resp.StatusCode
	}
	token := func(ttl string, hdr map[string]string) (string, int) {
		req, _ := http.NewRequest(http.MethodPut, h.imdsURL+"/latest/api/token", nil)
		if ttl != "" {
			req.Header.Set("X-aws-ec2-metadata-token-ttl-seconds", ttl)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		must(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 && resp.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") != ttl {
			t.Errorf("token TTL header %q, want %s", resp.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"), ttl)
		}
		return string(b), resp.StatusCode
	}
	if s := get(""); s != 401 {
		t.Errorf("GET without token: %d, want 401", s)
	}
	if s := get("forged"); s != 401 {
		t.Errorf("GET with unknown token: %d, want 401", s)
	}
	for _, ttl := range []string{"", "0", "21601", "soon"} {
		if _, s := token(ttl, nil); s != 400 {
			t.Errorf("token with TTL %q: %d, want 400", ttl, s)
		}
	}
	if _, s := token("60", map[string]string{"X-Forwarded-For": "10.1.1.1"}); s != 403 {
		t.Errorf("proxied token request: %d, want 403", s)
	}
	tok, s := token("60", nil)
	if s != 200 || tok == "" {
		t.Fatalf("token: %d %q", s, tok)
	}
	if s := get(tok); s != 200 {
		t.Errorf("GET with token: %d", s)
	}
	// Virtual time does not expire tokens; wall-clock time does.
	h.clk.Advance(24 * time.Hour)
	if s := get(tok); s != 200 {
		t.Errorf("GET after a virtual day: %d, want 200", s)
	}
	wall.Add(61)
	if s := get(tok); s != 401 {
		t.Errorf("GET with expired token: %d, want 401", s)
	}
}

func TestIMDSPerInstanceListeners(t *testing.T) {
	h := newHarness(t, 0)
	other, err := h.cloud.LaunchInstance(launchSpec("t3.small"))
	must(t, err)
	// Start with cancel-on-cleanup context serves the configured instance;
	// StartIMDS adds a listener for the other one.
	ec2URL, imdsURL, err := h.srv.Start(ctx(t), "127.0.0.1:0", "127.0.0.1:0")
	must(t, err)
	t.Cleanup(func() { h.srv.Close() })
	otherURL, err := h.srv.StartIMDS(ctx(t), other.ID, "127.0.0.1:0")
	must(t, err)
	for url, want := range map[string]core.InstanceID{imdsURL: h.inst.ID, otherURL: other.ID} {
		c := imds.New(imds.Options{Endpoint: url, ClientEnableState: imds.ClientEnabled})
		doc, err := c.GetInstanceIdentityDocument(ctx(t), &imds.GetInstanceIdentityDocumentInput{})
		must(t, err)
		if doc.InstanceID != string(want) {
			t.Errorf("%s serves %s, want %s", url, doc.InstanceID, want)
		}
	}
	out, err := newEC2Client(ec2URL).DescribeInstances(ctx(t), nil)
	must(t, err)
	var ids []string
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			ids = append(ids, *in.InstanceId)
		}
	}
	if strings.Join(ids, ",") != string(h.inst.ID)+","+string(other.ID) {
		t.Errorf("DescribeInstances without ids lists %v, want the two tracked instances", ids)
	}
	if _, _, err := h.srv.Start(ctx(t), "0.0.0.0:0", ""); !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("listening on 0.0.0.0: %v, want a refusal", err)
	}
	must(t, h.srv.Close())
	if _, err := http.Get(imdsURL + "/latest/meta-data/"); err == nil {
		t.Error("metadata listener still serving after Close")
	}
}

func TestIdentityDocumentIsJSON(t *testing.T) {
	h := newHarness(t, 0)
	out, err := h.imds.GetDynamicData(ctx(t), &imds.GetDynamicDataInput{Path: "instance-identity/document"})
	must(t, err)
	defer out.Content.Close()
	var doc map[string]any
	must(t, json.NewDecoder(out.Content).Decode(&doc))
	for _, k := range []string{"region", "instanceId", "instanceType", "availabilityZone", "privateIp", "accountId"} {
		if s, _ := doc[k].(string); s == "" {
			t.Errorf("identity document lacks %s: %v", k, doc)
		}
	}
	if ip, err := netip.ParseAddr(doc["privateIp"].(string)); err != nil || ip != h.inst.PrimaryIP {
		t.Errorf("privateIp %v", doc["privateIp"])
	}
}
