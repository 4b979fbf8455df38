package imds

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

// fakeIMDS serves the IMDSv2 protocol: PUT /latest/api/token hands out a
// session token, every other request must carry it. Metadata paths come
// from a map (a path ending in "/" lists a directory); a missing path
// answers 404, as IMDS does for an ENI without prefixes.
type fakeIMDS struct {
	srv   *httptest.Server
	token string

	mu       sync.Mutex
	data     map[string]string // meta-data path -> body
	document string            // dynamic/instance-identity/document, "" = 404
	tokens   int               // tokens issued
	rejected int               // requests without a valid token
	gets     map[string]int
}

func newFakeIMDS(t *testing.T) *fakeIMDS {
	t.Helper()
	f := &fakeIMDS{token: "tok-123", data: map[string]string{}, gets: map[string]int{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeIMDS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "bad token request", http.StatusBadRequest)
			return
		}
		f.tokens++
		w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds"))
		fmt.Fprint(w, f.token)
		return
	}
	if r.Header.Get("X-aws-ec2-metadata-token") != f.token {
		f.rejected++
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	if r.URL.Path == "/latest/dynamic/instance-identity/document" {
		if f.document == "" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, f.document)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/latest/meta-data/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	f.gets[path]++
	v, ok := f.data[path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	fmt.Fprint(w, v)
}

func (f *fakeIMDS) set(path, value string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data[path] = value
}

func (f *fakeIMDS) del(path string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.data, path)
}

const (
	mac0 = "02:00:00:00:00:01"
	mac1 = "02:00:00:00:00:02"
	mac2 = "02:00:00:00:00:03"
)

// node fills the fake with an instance holding three interfaces: the
// primary one (device 0), a secondary one with prefixes (device 1) and one
// on network card 1, listed out of order.
func (f *fakeIMDS) node() {
	f.document = `{"instanceId":"i-0123","instanceType":"m5.large","region":"eu-west-1","availabilityZone":"eu-west-1b","privateIp":"10.0.0.10"}`
	f.data = map[string]string{
		"instance-id":                 "i-0123",
		"instance-type":               "m5.large",
		"placement/availability-zone": "eu-west-1b",
		"placement/region":            "eu-west-1",
		"mac":                         mac0,
		"local-ipv4":                  "10.0.0.10",
		"network/interfaces/macs/":    mac2 + "/\n" + mac1 + "/\n" + mac0 + "/",
	}
	iface := func(mac string, fields map[string]string) {
		for k, v := range fields {
			f.data["network/interfaces/macs/"+mac+"/"+k] = v
		}
	}
	iface(mac0, map[string]string{
		"device-number": "0", "interface-id": "eni-0aaa", "subnet-id": "subnet-1", "vpc-id": "vpc-1",
		"subnet-ipv4-cidr-block": "10.0.0.0/18", "vpc-ipv4-cidr-blocks": "10.0.0.0/16\n100.64.0.0/16",
		"security-group-ids": "sg-1\nsg-2", "local-ipv4s": "10.0.0.10\n10.0.0.11\n10.0.0.12",
	})
	iface(mac1, map[string]string{
		"device-number": "1", "network-card": "0", "interface-id": "eni-0bbb", "subnet-id": "subnet-2", "vpc-id": "vpc-1",
		"subnet-ipv4-cidr-block": "10.0.64.0/18", "subnet-ipv6-cidr-blocks": "2600:1f14::/64",
		"security-group-ids": "sg-1", "local-ipv4s": "10.0.64.5",
		"ipv4-prefix": "10.0.65.0/28\n10.0.65.16/28", "ipv6-prefix": "2600:1f14::/80",
	})
	iface(mac2, map[string]string{
		"device-number": "0", "network-card": "1", "interface-id": "eni-0ccc", "subnet-id": "subnet-1", "vpc-id": "vpc-1",
		"subnet-ipv4-cidr-block": "10.0.0.0/18", "local-ipv4s": "10.0.0.40",
	})
}

func newTestClient(t *testing.T, f *fakeIMDS, clock *fakeClock) (*Client, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	var c *Client
	var err error
	if clock == nil {
		c, err = New(Config{Endpoint: f.srv.URL, MaxAttempts: 1}, nil, slog.New(slog.NewTextHandler(&logs, nil)))
	} else {
		c, err = New(Config{Endpoint: f.srv.URL, MaxAttempts: 1}, clock, slog.New(slog.NewTextHandler(&logs, nil)))
	}
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, &logs
}

func TestIdentity(t *testing.T) {
	ctx := context.Background()
	f := newFakeIMDS(t)
	f.node()
	c, _ := newTestClient(t, f, nil)
	want := core.InstanceIdentity{ID: "i-0123", Type: "m5.large", AvailabilityZone: "eu-west-1b", Region: "eu-west-1",
		PrimaryMAC: mac0, PrimaryIP: netip.MustParseAddr("10.0.0.10"),
		VPCCIDRs: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")}}
	got, err := c.Identity(ctx)
	if err != nil {
		t.Fatalf("Identity: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Identity = %+v, want %+v", got, want)
	}
	if f.tokens != 1 || f.rejected != 0 {
		t.Fatalf("token flow: %d tokens issued, %d requests rejected; want 1 and 0", f.tokens, f.rejected)
	}

	t.Run("region from placement without a document", func(t *testing.T) {
		f.document = ""
		f.set("placement/region", "eu-west-2")
		got, err := c.Identity(ctx)
		if err != nil || got.Region != "eu-west-2" {
			t.Fatalf("Identity = %+v, %v; want region eu-west-2", got, err)
		}
	})
	t.Run("no region anywhere", func(t *testing.T) {
		f.del("placement/region")
		if _, err := c.Identity(ctx); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Identity without a region: %v, want ErrNotFound", err)
		}
	})
	t.Run("missing instance id", func(t *testing.T) {
		f.del("instance-id")
		if _, err := c.Identity(ctx); !errors.Is(err, core.ErrNotFound) {
			t.Fatalf("Identity without an instance id: %v, want ErrNotFound", err)
		}
	})
}

func TestInterfaces(t *testing.T) {
	ctx := context.Background()
	f := newFakeIMDS(t)
	f.node()
	c, _ := newTestClient(t, f, nil)
	got, err := c.Interfaces(ctx)
	if err != nil {
		t.Fatalf("Interfaces: %v", err)
	}
	want := []core.ENI{
		{ID: "eni-0aaa", MAC: mac0, DeviceNumber: 0, NetworkCard: 0, SubnetID: "subnet-1", SubnetCIDR: netip.MustParsePrefix("10.0.0.0/18"),
			VPCID: "vpc-1", PrimaryIP: netip.MustParseAddr("10.0.0.10"),
			SecondaryIPs:   []netip.Addr{netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.12")},
			SecurityGroups: []string{"sg-1", "sg-2"}, Primary: true},
		{ID: "eni-0bbb", MAC: mac1, DeviceNumber: 1, NetworkCard: 0, SubnetID: "subnet-2", SubnetCIDR: netip.MustParsePrefix("10.0.64.0/18"),
			SubnetIPv6CIDR: netip.MustParsePrefix("2600:1f14::/64"), VPCID: "vpc-1", PrimaryIP: netip.MustParseAddr("10.0.64.5"),
			IPv4Prefixes:   []netip.Prefix{netip.MustParsePrefix("10.0.65.0/28"), netip.MustParsePrefix("10.0.65.16/28")},
			IPv6Prefixes:   []netip.Prefix{netip.MustParsePrefix("2600:1f14::/80")},
			SecurityGroups: []string{"sg-1"}},
		{ID: "eni-0ccc", MAC: mac2, DeviceNumber: 0, NetworkCard: 1, SubnetID: "subnet-1", SubnetCIDR: netip.MustParsePrefix("10.0.0.0/18"),
			VPCID: "vpc-1", PrimaryIP: netip.MustParseAddr("10.0.0.40")},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Interfaces:\n got %+v\nwant %+v", got, want)
	}
	// The optional paths were asked for and answered 404.
	if f.gets["network/interfaces/macs/"+mac0+"/ipv4-prefix"] != 1 {
		t.Fatalf("ipv4-prefix of the primary interface was not read")
	}

	t.Run("required field missing", func(t *testing.T) {
		f.del("network/interfaces/macs/" + mac1 + "/interface-id")
		_, err := c.Interfaces(ctx)
		if !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), mac1) {
			t.Fatalf("Interfaces with a half-listed interface: %v, want ErrNotFound naming %s", err, mac1)
		}
	})
	t.Run("garbage", func(t *testing.T) {
		f.set("network/interfaces/macs/"+mac1+"/interface-id", "eni-0bbb")
		f.set("network/interfaces/macs/"+mac1+"/ipv4-prefix", "10.0.65.0/99")
		if _, err := c.Interfaces(ctx); err == nil || !strings.Contains(err.Error(), "10.0.65.0/99") {
			t.Fatalf("Interfaces with a bad prefix: %v", err)
		}
	})
}

func TestVPCCIDRs(t *testing.T) {
	ctx := context.Background()
	f := newFakeIMDS(t)
	f.node()
	c, _ := newTestClient(t, f, nil)
	got, err := c.VPCCIDRs(ctx)
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/16"), netip.MustParsePrefix("100.64.0.0/16")}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("VPCCIDRs = %v, %v; want %v", got, err, want)
	}
	v6, err := c.VPCIPv6CIDRs(ctx)
	if err != nil || v6 != nil {
		t.Fatalf("VPCIPv6CIDRs without a block = %v, %v; want none", v6, err)
	}
	f.set("network/interfaces/macs/"+mac0+"/vpc-ipv6-cidr-blocks", "2600:1f14::/56")
	v6, err = c.VPCIPv6CIDRs(ctx)
	if err != nil || !reflect.DeepEqual(v6, []netip.Prefix{netip.MustParsePrefix("2600:1f14::/56")}) {
		t.Fatalf("VPCIPv6CIDRs = %v, %v", v6, err)
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	f := newFakeIMDS(t)
	f.node()
	t.Setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", f.srv.URL)
	c, err := New(Config{MaxAttempts: 1}, nil, nil)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	id, err := c.Identity(context.Background())
	if err != nil || id.ID != "i-0123" {
		t.Fatalf("Identity via AWS_EC2_METADATA_SERVICE_ENDPOINT = %+v, %v", id, err)
	}
	if _, err := New(Config{Endpoint: "169.254.169.254"}, nil, nil); !errors.Is(err, core.ErrInvalidParameter) {
		t.Fatalf("New with a bare host: %v, want ErrInvalidParameter", err)
	}
}

// fakeClock is virtual time: Sleep records the pause, moves time and runs
// a hook (which may change what the fake metadata shows).
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	pauses  []time.Duration
	onSleep func(n int)
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.pauses = append(c.pauses, d)
	c.now = c.now.Add(d)
	n, hook := len(c.pauses), c.onSleep
	c.mu.Unlock()
	if hook != nil {
		hook(n)
	}
	return nil
}

func TestWaitFor(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	newENI := "network/interfaces/macs/02:00:00:00:00:09/"

	t.Run("appears after a few polls", func(t *testing.T) {
		f := newFakeIMDS(t)
		f.node()
		clock := &fakeClock{now: start}
		// The ENI is listed after the 2nd pause, its addresses after the 4th.
		clock.onSleep = func(n int) {
			switch n {
			case 2:
				f.set("network/interfaces/macs/", mac0+"/\n02:00:00:00:00:09/")
				for k, v := range map[string]string{"device-number": "2", "interface-id": "eni-0new", "subnet-id": "subnet-1",
					"vpc-id": "vpc-1", "local-ipv4s": "10.0.0.50"} {
					f.set(newENI+k, v)
				}
			case 4:
				f.set(newENI+"local-ipv4s", "10.0.0.50\n10.0.0.51\n10.0.0.52")
			}
		}
		c, logs := newTestClient(t, f, clock)
		got, err := c.WaitFor(ctx, "eni-0new", 2, 0, time.Minute)
		if err != nil {
			t.Fatalf("WaitFor: %v", err)
		}
		if got.ID != "eni-0new" || got.DeviceNumber != 2 || len(got.SecondaryIPs) != 2 {
			t.Fatalf("WaitFor = %+v", got)
		}
		want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond}
		if !reflect.DeepEqual(clock.pauses, want) {
			t.Fatalf("pauses = %v, want %v", clock.pauses, want)
		}
		if n := strings.Count(logs.String(), "waiting for ENI in instance metadata"); n != 4 {
			t.Fatalf("%d wait log lines, want 4:\n%s", n, logs)
		}
	})

	t.Run("prefixes count", func(t *testing.T) {
		f := newFakeIMDS(t)
		f.node()
		clock := &fakeClock{now: start}
		c, _ := newTestClient(t, f, clock)
		got, err := c.WaitFor(ctx, "eni-0bbb", 0, 3, time.Minute) // two /28 and one /80
		if err != nil || len(clock.pauses) != 0 || got.ID != "eni-0bbb" {
			t.Fatalf("WaitFor = %+v, %v after %v", got, err, clock.pauses)
		}
	})

	t.Run("times out", func(t *testing.T) {
		f := newFakeIMDS(t)
		f.node()
		clock := &fakeClock{now: start}
		c, _ := newTestClient(t, f, clock)
		_, err := c.WaitFor(ctx, "eni-0bbb", 5, 0, 5*time.Second)
		if !errors.Is(err, ErrWaitTimeout) {
			t.Fatalf("WaitFor error = %v, want ErrWaitTimeout", err)
		}
		if !strings.Contains(err.Error(), "listed with 0 addresses and 3 prefixes") {
			t.Fatalf("timeout error does not say what was seen: %v", err)
		}
		// 100+200+400+800+1600 ms, then capped at 2 s, the last pause cut
		// to what is left of the 5 s.
		want := []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond,
			1600 * time.Millisecond, 1900 * time.Millisecond}
		if !reflect.DeepEqual(clock.pauses, want) {
			t.Fatalf("pauses = %v, want %v", clock.pauses, want)
		}
		if got := clock.Now().Sub(start); got != 5*time.Second {
			t.Fatalf("gave up after %v of virtual time, want 5s", got)
		}
	})

	t.Run("never listed, reads failing", func(t *testing.T) {
		f := newFakeIMDS(t)
		f.node()
		f.del("network/interfaces/macs/")
		clock := &fakeClock{now: start}
		c, _ := newTestClient(t, f, clock)
		_, err := c.WaitFor(ctx, "eni-0new", 0, 0, time.Second)
		if !errors.Is(err, ErrWaitTimeout) || !strings.Contains(err.Error(), "not listed") || !strings.Contains(err.Error(), "last read failed") {
			t.Fatalf("WaitFor error = %v", err)
		}
	})

	t.Run("context ends", func(t *testing.T) {
		f := newFakeIMDS(t)
		f.node()
		cctx, cancel := context.WithCancel(ctx)
		clock := &fakeClock{now: start, onSleep: func(n int) {
			if n == 2 {
				cancel()
			}
		}}
		c, _ := newTestClient(t, f, clock)
		_, err := c.WaitFor(cctx, "eni-0new", 0, 0, time.Hour)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitFor error = %v, want context.Canceled", err)
		}
	})
}
