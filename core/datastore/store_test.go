package datastore

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

func TestAddENIErrors(t *testing.T) {
	s := New(Config{})
	must(t, s.AddENI(infoFor(0), t0))
	wantErr(t, s.AddENI(infoFor(0), t0), core.ErrDuplicate)
	wantErr(t, s.AddENI(ENIInfo{}, t0), core.ErrInvalidParameter)
	wantErr(t, s.SetExcluded("eni-nope", true), core.ErrUnknownENI)
	_, err := s.RemoveENI("eni-nope", false)
	wantErr(t, err, core.ErrUnknownENI)
	if _, ok := s.ENI("eni-nope"); ok {
		t.Fatal("unknown ENI found")
	}
}

func TestENIsDeviceOrder(t *testing.T) {
	s := New(Config{})
	for _, info := range []ENIInfo{
		{ID: "eni-c", DeviceNumber: 2},
		{ID: "eni-b", DeviceNumber: 1, NetworkCard: 1},
		{ID: "eni-a", DeviceNumber: 1},
		{ID: "eni-p", DeviceNumber: 0, Primary: true},
	} {
		must(t, s.AddENI(info, t0))
	}
	var got []core.ENIID
	for _, e := range s.ENIs() {
		got = append(got, e.ID)
	}
	want := []core.ENIID{"eni-p", "eni-a", "eni-b", "eni-c"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	var usage []core.ENIID
	for _, u := range s.Usage(t0).ENIs {
		usage = append(usage, u.ID)
	}
	if !slices.Equal(usage, want) {
		t.Fatalf("usage order %v, want %v", usage, want)
	}
}

func TestAddBlockErrors(t *testing.T) {
	tests := []struct {
		name string
		op   func(s *Store) (int, error)
		want error
	}{
		{"IP on unknown ENI", func(s *Store) (int, error) { return s.AddIPs("eni-x", ips("10.0.0.5")) }, core.ErrUnknownENI},
		{"IPv6 address as IP", func(s *Store) (int, error) { return s.AddIPs("eni-0", ips("2001:db8::5")) }, core.ErrInvalidParameter},
		{"invalid address", func(s *Store) (int, error) { return s.AddIPs("eni-0", []netip.Addr{{}}) }, core.ErrInvalidParameter},
		{"primary address", func(s *Store) (int, error) { return s.AddIPs("eni-0", ips("10.0.0.1")) }, core.ErrInvalidParameter},
		{"outside subnet", func(s *Store) (int, error) { return s.AddIPs("eni-0", ips("10.9.0.5")) }, core.ErrInvalidParameter},
		{"IP of another ENI", func(s *Store) (int, error) { return s.AddIPs("eni-0", ips("10.1.0.5")) }, core.ErrInvalidParameter},
		{"IP inside own prefix", func(s *Store) (int, error) { return s.AddIPs("eni-0", ips("10.0.1.3")) }, core.ErrDuplicate},
		{"prefix /27", func(s *Store) (int, error) { return s.AddPrefixes("eni-0", pfxs("10.0.2.0/27")) }, core.ErrInvalidParameter},
		{"prefix /32", func(s *Store) (int, error) { return s.AddPrefixes("eni-0", pfxs("10.0.2.0/32")) }, core.ErrInvalidParameter},
		{"prefix not canonical", func(s *Store) (int, error) { return s.AddPrefixes("eni-0", pfxs("10.0.2.17/28")) }, core.ErrInvalidParameter},
		{"IPv6 prefix as /28", func(s *Store) (int, error) { return s.AddPrefixes("eni-0", pfxs("2001:db8::/28")) }, core.ErrInvalidParameter},
		{"prefix outside subnet", func(s *Store) (int, error) { return s.AddPrefixes("eni-0", pfxs("10.3.2.0/28")) }, core.ErrInvalidParameter},
		{"prefix with primary", func(s *Store) (int, error) { return s.AddPrefixes("eni-0", pfxs("10.0.0.0/28")) }, core.ErrInvalidParameter},
		{"prefix over own IP", func(s *Store) (int, error) { return s.AddPrefixes("eni-0", pfxs("10.0.0.16/28")) }, core.ErrDuplicate},
		{"prefix of another ENI", func(s *Store) (int, error) { return s.AddPrefixes("eni-0", pfxs("10.1.1.0/28")) }, core.ErrInvalidParameter},
		{"prefix on unknown ENI", func(s *Store) (int, error) { return s.AddPrefixes("eni-x", pfxs("10.0.2.0/28")) }, core.ErrUnknownENI},
		{"IPv6 /64", func(s *Store) (int, error) { return s.AddIPv6Prefixes("eni-0", pfxs("2001:db8::/64")) }, core.ErrInvalidParameter},
		{"IPv4 as IPv6 prefix", func(s *Store) (int, error) { return s.AddIPv6Prefixes("eni-0", pfxs("10.0.2.0/28")) }, core.ErrInvalidParameter},
		{"IPv6 prefix not canonical", func(s *Store) (int, error) { return s.AddIPv6Prefixes("eni-0", pfxs("2001:db8::1/80")) }, core.ErrInvalidParameter},
		{"IPv6 prefix of another ENI", func(s *Store) (int, error) { return s.AddIPv6Prefixes("eni-0", pfxs("2001:db8:1::/80")) }, core.ErrDuplicate},
		{"IPv6 prefix on unknown ENI", func(s *Store) (int, error) { return s.AddIPv6Prefixes("eni-x", pfxs("2001:db8:2::/80")) }, core.ErrUnknownENI},
		{"one bad address spoils the batch", func(s *Store) (int, error) { return s.AddIPs("eni-0", ips("10.0.0.6", "10.0.0.1")) }, core.ErrInvalidParameter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// eni-1's subnet is 10.1.0.0/16, so its addresses are outside
			// eni-0's subnet: they fail the subnet check first.
			s := build(t, Config{},
				eniSpec{dev: 0, ips: []string{"10.0.0.20"}, prefixes: []string{"10.0.1.0/28"}},
				eniSpec{dev: 1, ips: []string{"10.1.0.5"}, prefixes: []string{"10.1.1.0/28"}, v6: []string{"2001:db8:1::/80"}})
			before := s.Stats(t0)
			n, err := tc.op(s)
			wantErr(t, err, tc.want)
			if n != 0 {
				t.Fatalf("added %d on error", n)
			}
			if after := s.Stats(t0); after != before {
				t.Fatalf("stats changed on error: %+v -> %+v", before, after)
			}
			checkConsistent(t, s, t0)
		})
	}
}

func TestAddBlocksAcrossENIsWithoutSubnet(t *testing.T) {
	// Without a subnet to check against, ownership is what is left.
	s := New(Config{})
	must(t, s.AddENI(ENIInfo{ID: "a", DeviceNumber: 0}, t0))
	must(t, s.AddENI(ENIInfo{ID: "b", DeviceNumber: 1}, t0))
	_, err := s.AddIPs("a", ips("10.0.0.5"))
	must(t, err)
	_, err = s.AddPrefixes("a", pfxs("10.0.1.0/28"))
	must(t, err)
	_, err = s.AddIPs("b", ips("10.0.0.5"))
	wantErr(t, err, core.ErrDuplicate)
	_, err = s.AddPrefixes("b", pfxs("10.0.1.0/28"))
	wantErr(t, err, core.ErrDuplicate)
	_, err = s.AddPrefixes("b", pfxs("10.0.0.0/28"))
	wantErr(t, err, core.ErrDuplicate)
	_, err = s.AddIPs("b", ips("10.0.1.15"))
	wantErr(t, err, core.ErrDuplicate)
	checkConsistent(t, s, t0)
}

func TestAddIsIdempotent(t *testing.T) {
	s := build(t, Config{}, eniSpec{dev: 0})
	for i, tc := range []struct {
		op   func() (int, error)
		want int
	}{
		{func() (int, error) { return s.AddIPs("eni-0", ips("10.0.0.7", "10.0.0.5")) }, 2},
		{func() (int, error) { return s.AddIPs("eni-0", ips("10.0.0.5", "10.0.0.6", "10.0.0.6")) }, 1},
		{func() (int, error) { return s.AddIPs("eni-0", ips("::ffff:10.0.0.7")) }, 0},
		{func() (int, error) { return s.AddPrefixes("eni-0", pfxs("10.0.2.0/28", "10.0.1.0/28")) }, 2},
		{func() (int, error) { return s.AddPrefixes("eni-0", pfxs("10.0.1.0/28", "10.0.1.0/28")) }, 0},
		{func() (int, error) { return s.AddIPv6Prefixes("eni-0", pfxs("2001:db8::/80")) }, 1},
		{func() (int, error) { return s.AddIPv6Prefixes("eni-0", pfxs("2001:db8::/80")) }, 0},
	} {
		n, err := tc.op()
		must(t, err)
		if n != tc.want {
			t.Fatalf("step %d: added %d, want %d", i, n, tc.want)
		}
	}
	v, _ := s.ENI("eni-0")
	if !slices.Equal(v.IPs, ips("10.0.0.5", "10.0.0.6", "10.0.0.7")) {
		t.Fatalf("IPs %v", v.IPs)
	}
	if !slices.Equal(v.Prefixes, pfxs("10.0.1.0/28", "10.0.2.0/28")) {
		t.Fatalf("prefixes %v", v.Prefixes)
	}
	if !slices.Equal(v.IPv6Prefixes, pfxs("2001:db8::/80")) {
		t.Fatalf("IPv6 prefixes %v", v.IPv6Prefixes)
	}
	checkConsistent(t, s, t0)
}

func TestRemoveENI(t *testing.T) {
	tests := []struct {
		name      string
		force     bool
		pods      int
		wantErr   error
		wantAlloc int
	}{
		{"empty", false, 0, nil, 0},
		{"in use refused", false, 2, core.ErrENIInUse, 0},
		{"in use forced", true, 2, nil, 2},
		{"empty forced", true, 0, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, Config{Cooldown: time.Minute},
				eniSpec{dev: 0, ips: seqIPs("10.0.0.10", 2)},
				eniSpec{dev: 1, ips: seqIPs("10.1.0.10", 3), prefixes: []string{"10.1.1.0/28"}, v6: []string{"2001:db8::/80"}})
			// Fill eni-0, then pods land on eni-1.
			assign(t, s, 100, t0)
			assign(t, s, 101, t0)
			for i := range tc.pods {
				if a := assign(t, s, i, t0); a.ENI != "eni-1" {
					t.Fatalf("pod %d on %s", i, a.ENI)
				}
			}
			// One cooling address does not hold removal back.
			assign(t, s, 50, t0)
			release(t, s, 50, t0)
			got, err := s.RemoveENI("eni-1", tc.force)
			wantErr(t, err, tc.wantErr)
			if len(got) != tc.wantAlloc {
				t.Fatalf("%d allocations returned, want %d", len(got), tc.wantAlloc)
			}
			for _, a := range got {
				if _, ok := s.Lookup(a.Key); ok {
					t.Fatalf("dropped allocation %v still assigned", a)
				}
				if !slices.Contains(seqIPs("10.1.0.10", 3), a.Addr.String()) {
					t.Fatalf("unexpected address %v", a.Addr)
				}
			}
			_, present := s.ENI("eni-1")
			if present != (tc.wantErr != nil) {
				t.Fatalf("ENI present = %v", present)
			}
			checkConsistent(t, s, t0)
			if tc.wantErr == nil {
				// Its addresses are gone: eni-0 is full, nothing left,
				// even once the cooldown is over.
				_, err := s.Assign(key(999), podRef(999), t0.Add(time.Hour))
				wantErr(t, err, core.ErrNoAvailableAddress)
				// And they can come back, on another ENI.
				_, err = s.AddIPs("eni-0", ips("10.0.0.30"))
				must(t, err)
			}
		})
	}
}

func TestRemoveBlock(t *testing.T) {
	tests := []struct {
		name      string
		block     string
		force     bool
		eni       core.ENIID
		wantErr   error
		wantAlloc []string
	}{
		{"free IP", "10.0.0.12/32", false, "eni-0", nil, nil},
		{"assigned IP refused", "10.0.0.10/32", false, "eni-0", core.ErrAddressInUse, nil},
		{"assigned IP forced", "10.0.0.10/32", true, "eni-0", nil, []string{"10.0.0.10"}},
		{"cooling IP", "10.0.0.11/32", false, "eni-0", nil, nil},
		{"assigned prefix refused", "10.0.1.0/28", false, "eni-0", core.ErrAddressInUse, nil},
		{"assigned prefix forced", "10.0.1.0/28", true, "eni-0", nil, []string{"10.0.1.0", "10.0.1.1"}},
		{"free prefix", "10.0.1.16/28", false, "eni-0", nil, nil},
		{"IPv6 prefix forced", "2001:db8::/80", true, "eni-0", nil, []string{"2001:db8::1"}},
		{"IPv6 prefix refused", "2001:db8::/80", false, "eni-0", core.ErrAddressInUse, nil},
		{"unknown IP", "10.0.0.99/32", false, "eni-0", core.ErrUnknownAddress, nil},
		{"IP of a prefix", "10.0.1.3/32", false, "eni-0", core.ErrUnknownAddress, nil},
		{"other ENI's IP", "10.1.0.10/32", false, "eni-0", core.ErrUnknownAddress, nil},
		{"unknown prefix", "10.0.9.0/28", false, "eni-0", core.ErrUnknownAddress, nil},
		{"unknown ENI", "10.0.0.12/32", false, "eni-9", core.ErrUnknownENI, nil},
		{"bad size", "10.0.1.0/27", false, "eni-0", core.ErrInvalidParameter, nil},
		{"not canonical", "10.0.1.1/28", false, "eni-0", core.ErrInvalidParameter, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := build(t, Config{Cooldown: time.Minute},
				eniSpec{dev: 0, ips: seqIPs("10.0.0.10", 3), prefixes: []string{"10.0.1.0/28", "10.0.1.16/28"}, v6: []string{"2001:db8::/80"}},
				eniSpec{dev: 1, ips: seqIPs("10.1.0.10", 1)})
			assign(t, s, 1, t0) // 10.0.0.10
			assign(t, s, 2, t0) // 10.0.0.11, released below
			release(t, s, 2, t0)
			s.SetPrefixMode(true)
			assign(t, s, 3, t0) // 10.0.1.0
			assign(t, s, 4, t0) // 10.0.1.1
			// There is no API to change the family of a live store; flip it
			// underneath so this ENI also holds an IPv6 pod.
			s.cfg.Family = core.IPv6
			s.SetPrefixMode(true) // re-evaluates the active kind
			if a := assign(t, s, 5, t0); a.Addr != ip("2001:db8::1") {
				t.Fatalf("IPv6 pod got %v", a.Addr)
			}
			before := len(s.Assignments())
			got, err := s.RemoveBlock(tc.eni, pfx(tc.block), tc.force)
			wantErr(t, err, tc.wantErr)
			var addrs []string
			for _, a := range got {
				addrs = append(addrs, a.Addr.String())
			}
			if !slices.Equal(addrs, tc.wantAlloc) {
				t.Fatalf("dropped %v, want %v", addrs, tc.wantAlloc)
			}
			if after := len(s.Assignments()); after != before-len(tc.wantAlloc) {
				t.Fatalf("assignments %d -> %d", before, after)
			}
			checkConsistent(t, s, t0)
			v, _ := s.ENI("eni-0")
			blocks := len(v.IPs) + len(v.Prefixes) + len(v.IPv6Prefixes)
			wantBlocks := 6
			if tc.wantErr == nil {
				wantBlocks--
			}
			if blocks != wantBlocks {
				t.Fatalf("%d blocks left, want %d", blocks, wantBlocks)
			}
		})
	}
}
