package datastore

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
)

var benchT0 = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

// benchStore builds a store of n ENIs (device 0..n-1) with per blocks each:
// secondary IPs, or /28 prefixes in prefix mode.
func benchStore(tb testing.TB, prefixMode bool, n, per int, cooldown time.Duration) *Store {
	tb.Helper()
	s := New(Config{Cooldown: cooldown, PrefixMode: prefixMode})
	for d := range n {
		id := core.ENIID(fmt.Sprintf("eni-%02d", d))
		base := netip.AddrFrom4([4]byte{10, byte(d), 0, 0})
		err := s.AddENI(ENIInfo{ID: id, DeviceNumber: d, SubnetCIDR: netip.PrefixFrom(base, 16),
			PrimaryIP: netip.AddrFrom4([4]byte{10, byte(d), 0, 1}), Primary: d == 0}, benchT0)
		if err != nil {
			tb.Fatal(err)
		}
		if prefixMode {
			ps := make([]netip.Prefix, per)
			for j := range ps {
				ps[j] = netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(d), byte(1 + j/16), byte(j%16) * 16}), 28)
			}
			_, err = s.AddPrefixes(id, ps)
		} else {
			ips := make([]netip.Addr, per)
			for j := range ips {
				ips[j] = netip.AddrFrom4([4]byte{10, byte(d), 0, byte(10 + j)})
			}
			_, err = s.AddIPs(id, ips)
		}
		if err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

func benchKeys(n int) []core.PodKey {
	keys := make([]core.PodKey, n)
	for i := range keys {
		keys[i] = core.PodKey{NetworkName: "aws-cni", ContainerID: fmt.Sprintf("container-%06d", i), IfName: "eth0"}
	}
	return keys
}

// runAssignRelease fills the store with pods, then measures one Release plus
// one Assign of a pod per iteration while the clock advances by step.
func runAssignRelease(b *testing.B, s *Store, pods int, step time.Duration) {
	keys := benchKeys(pods)
	pod := core.PodRef{Namespace: "default", Name: "bench"}
	now := benchT0
	for _, k := range keys {
		if _, err := s.Assign(k, pod, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		k := keys[i]
		if _, err := s.Release(k, now); err != nil {
			b.Fatal(err)
		}
		if _, err := s.Assign(k, pod, now); err != nil {
			b.Fatal(err)
		}
		now = now.Add(step)
		if i++; i == len(keys) {
			i = 0
		}
	}
}

func benchAssignRelease(b *testing.B, prefixMode bool, enis, per, pods int) {
	for _, tc := range []struct {
		name     string
		cooldown time.Duration
		step     time.Duration
	}{
		{"cooldown=0", 0, time.Millisecond},
		// 200 releases per period: about 200 addresses cool at any time.
		{"cooldown=30s", 30 * time.Second, 150 * time.Millisecond},
	} {
		b.Run(tc.name, func(b *testing.B) {
			runAssignRelease(b, benchStore(b, prefixMode, enis, per, tc.cooldown), pods, tc.step)
		})
	}
}

// p3dn.24xlarge-sized pool: 15 ENIs of 49 secondary IPs, 250 pods.
func BenchmarkAssignRelease_SecondaryIP(b *testing.B) { benchAssignRelease(b, false, 15, 49, 250) }

// The same ENIs with 49 /28 prefixes each, 250 pods.
func BenchmarkAssignRelease_Prefix(b *testing.B) { benchAssignRelease(b, true, 15, 49, 250) }

// 11760 prefix addresses, 3500 pods.
func BenchmarkAssignRelease_PrefixLarge(b *testing.B) { benchAssignRelease(b, true, 15, 49, 3500) }

// IPv6: one /80 per ENI, 250 pods.
func BenchmarkAssignRelease_IPv6(b *testing.B) {
	for _, cd := range []time.Duration{0, 30 * time.Second} {
		b.Run(fmt.Sprintf("cooldown=%v", cd), func(b *testing.B) {
			s := New(Config{Cooldown: cd, Family: core.IPv6})
			for d := range 15 {
				id := core.ENIID(fmt.Sprintf("eni-%02d", d))
				if err := s.AddENI(ENIInfo{ID: id, DeviceNumber: d}, benchT0); err != nil {
					b.Fatal(err)
				}
				p := netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, byte(d), 8: 0xaa}), 80)
				if _, err := s.AddIPv6Prefixes(id, []netip.Prefix{p}); err != nil {
					b.Fatal(err)
				}
			}
			runAssignRelease(b, s, 250, 150*time.Millisecond)
		})
	}
}

func BenchmarkUsage(b *testing.B) {
	for _, tc := range []struct {
		name   string
		prefix bool
	}{{"secondaryIP", false}, {"prefix", true}} {
		b.Run(tc.name, func(b *testing.B) {
			s := benchStore(b, tc.prefix, 15, 49, 30*time.Second)
			keys := benchKeys(250)
			for _, k := range keys {
				if _, err := s.Assign(k, core.PodRef{}, benchT0); err != nil {
					b.Fatal(err)
				}
			}
			for _, k := range keys[:50] {
				if _, err := s.Release(k, benchT0); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if u := s.Usage(benchT0); len(u.ENIs) != 15 {
					b.Fatal(len(u.ENIs))
				}
			}
		})
	}
}

func BenchmarkStats(b *testing.B) {
	s := benchStore(b, false, 15, 49, 0)
	for _, k := range benchKeys(250) {
		if _, err := s.Assign(k, core.PodRef{}, benchT0); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if st := s.Stats(benchT0); st.Assigned != 250 {
			b.Fatal(st)
		}
	}
}
