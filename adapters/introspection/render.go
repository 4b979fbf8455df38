package introspection

import (
	"net"
	"net/netip"
	"strconv"
	"time"
)

// CardENIs is one network card in /v1/enis.
type CardENIs struct {
	TotalIPs    int
	AssignedIPs int
	ENIs        map[string]ENI
}

// ENI is one ENI in /v1/enis (upstream field names).
type ENI struct {
	ID                 string
	IsPrimary          bool
	IsTrunk            bool
	IsEFA              bool
	DeviceNumber       int
	AvailableIPv4Cidrs map[string]*CidrInfo
	IPv6Cidrs          map[string]*CidrInfo
}

// CidrInfo is one secondary address (/32) or delegated prefix.
type CidrInfo struct {
	// Cidr is a net.IPNet, as upstream encodes it.
	Cidr          net.IPNet
	IPAddresses   map[string]*AddressInfo
	IsPrefix      bool
	AddressFamily string
}

// AddressInfo is one address a pod holds or that is cooling down.
type AddressInfo struct {
	Address        string
	IPAMMetadata   PodMetadata
	AssignedTime   time.Time
	UnassignedTime time.Time
}

// PodMetadata names the pod holding an address.
type PodMetadata struct {
	K8SPodNamespace string `json:"k8sPodNamespace,omitempty"`
	K8SPodName      string `json:"k8sPodName,omitempty"`
}

// Pod is one entry of /v1/pods.
type Pod struct {
	PodNamespace string
	PodName      string
	IP           string
	ENI          string
	DeviceNumber int
	RouteTable   int
	AssignedTime time.Time
}

func ipNet(p netip.Prefix) net.IPNet {
	return net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "4"
	}
	return "6"
}

// RenderENIs builds the /v1/enis body: network card number → pool.
func RenderENIs(st State) map[string]CardENIs {
	out := map[string]CardENIs{}
	// where finds the block holding an address.
	type slot struct {
		card string
		eni  string
		cidr *CidrInfo
	}
	exact := map[netip.Addr]slot{}
	type pfx struct {
		p netip.Prefix
		slot
	}
	var prefixes []pfx
	for _, v := range st.ENIs {
		card := strconv.Itoa(v.NetworkCard)
		c, ok := out[card]
		if !ok {
			c = CardENIs{ENIs: map[string]ENI{}}
		}
		e := ENI{ID: string(v.ID), IsPrimary: v.Primary, IsTrunk: v.Trunk, IsEFA: v.EFA, DeviceNumber: v.DeviceNumber,
			AvailableIPv4Cidrs: map[string]*CidrInfo{}, IPv6Cidrs: map[string]*CidrInfo{}}
		for _, a := range v.IPs {
			p := netip.PrefixFrom(a, a.BitLen())
			ci := &CidrInfo{Cidr: ipNet(p), IPAddresses: map[string]*AddressInfo{}, AddressFamily: family(a)}
			e.AvailableIPv4Cidrs[p.String()] = ci
			exact[a] = slot{card, e.ID, ci}
			c.TotalIPs++
		}
		for _, p := range v.Prefixes {
			ci := &CidrInfo{Cidr: ipNet(p), IPAddresses: map[string]*AddressInfo{}, IsPrefix: true, AddressFamily: family(p.Addr())}
			e.AvailableIPv4Cidrs[p.String()] = ci
			prefixes = append(prefixes, pfx{p, slot{card, e.ID, ci}})
			c.TotalIPs += 1 << (p.Addr().BitLen() - p.Bits())
		}
		for _, p := range v.IPv6Prefixes {
			ci := &CidrInfo{Cidr: ipNet(p), IPAddresses: map[string]*AddressInfo{}, IsPrefix: true, AddressFamily: family(p.Addr())}
			e.IPv6Cidrs[p.String()] = ci
			prefixes = append(prefixes, pfx{p, slot{card, e.ID, ci}})
		}
		c.ENIs[e.ID] = e
		out[card] = c
	}
	find := func(a netip.Addr) (slot, bool) {
		if s, ok := exact[a]; ok {
			return s, true
		}
		for _, p := range prefixes {
			if p.p.Contains(a) {
				return p.slot, true
			}
		}
		return slot{}, false
	}
	for _, as := range sortedAssignments(st.Assignments) {
		s, ok := find(as.Addr)
		if !ok {
			continue
		}
		s.cidr.IPAddresses[as.Addr.String()] = &AddressInfo{
			Address:      as.Addr.String(),
			IPAMMetadata: PodMetadata{K8SPodNamespace: as.Pod.Namespace, K8SPodName: as.Pod.Name},
			AssignedTime: as.AssignedAt,
		}
		c := out[s.card]
		c.AssignedIPs++
		out[s.card] = c
	}
	for _, cd := range st.Cooldowns {
		s, ok := find(cd.Addr)
		if !ok {
			continue
		}
		key := cd.Addr.String()
		if _, held := s.cidr.IPAddresses[key]; held {
			continue // reassigned since the release
		}
		s.cidr.IPAddresses[key] = &AddressInfo{Address: key, UnassignedTime: cd.ReleasedAt}
	}
	return out
}

// RenderPods builds the /v1/pods body, sorted by address.
func RenderPods(st State) []Pod {
	out := []Pod{}
	for _, a := range sortedAssignments(st.Assignments) {
		out = append(out, Pod{
			PodNamespace: a.Pod.Namespace, PodName: a.Pod.Name, IP: a.Addr.String(), ENI: string(a.ENI),
			DeviceNumber: a.DeviceNumber, RouteTable: a.RouteTable, AssignedTime: a.AssignedAt,
		})
	}
	return out
}
