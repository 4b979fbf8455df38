package cniplugin

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
	cniversion "github.com/containernetworking/cni/pkg/version"

	"github.com/vpc-cni/vpc-cni/adapters/netlink"
	"github.com/vpc-cni/vpc-cni/core"
)

// mainTable is the kernel's main routing table.
const mainTable = 254

// wired is what ADD set up, everything the result has to record.
type wired struct {
	hostVeth     string
	hostMAC      string
	ifName       string
	netns        string
	addr         netip.Addr
	deviceNumber int
	routeTable   int
	vlan         int
	dummy        string
}

// buildResult encodes an ADD in the layout upstream uses, so that either
// implementation can DEL the other's pods without ipamd:
//
//	interfaces[0]  host veth          name, MAC
//	interfaces[1]  container iface    name, sandbox = netns, mac = route table id
//	interfaces[2]  "dummy<hash>"      mac = VLAN id ("0"), sandbox = device number
//	ips[0]         <addr>/32 (or /128) on interface 1
//
// The dummy interface never exists as a link; it is a record in the result
// the runtime hands back on DEL as prevResult.
func buildResult(w wired) *current.Result {
	bits := 32
	if w.addr.Is6() {
		bits = 128
	}
	ipn := net.IPNet{IP: net.IP(w.addr.AsSlice()), Mask: net.CIDRMask(bits, bits)}
	return &current.Result{
		CNIVersion: current.ImplementedSpecVersion,
		Interfaces: []*current.Interface{
			{Name: w.hostVeth, Mac: w.hostMAC},
			{Name: w.ifName, Mac: strconv.Itoa(w.routeTable), Sandbox: w.netns},
			{Name: w.dummy, Mac: strconv.Itoa(w.vlan), Sandbox: strconv.Itoa(w.deviceNumber)},
		},
		IPs: []*current.IPConfig{{Address: ipn, Interface: current.Int(1)}},
	}
}

// resultJSON encodes buildResult(w) converted to version, the same JSON
// value the library's GetAsVersion and PrintTo produce, but without
// encoding/json: in a new process its first use (reflecting over the
// result types, their custom marshallers, the indentation pass) costs
// about 0.1 ms of every ADD, on the path to the runtime's answer. ok is
// false when the version is not one the result is known to have a layout
// for, or when an address or string is not one this encoder writes as the
// library would (a string needing JSON escapes, an IPv4-mapped or zoned
// IPv6 address): the caller then goes through the library.
func resultJSON(w wired, version string) ([]byte, bool) {
	var withIPVersion bool // the 0.3.x and 0.4.0 layout
	switch version {
	case "1.0.0", "1.1.0":
	case "0.3.0", "0.3.1", "0.4.0":
		withIPVersion = true
	default:
		return nil, false
	}
	if w.addr.Zone() != "" || w.addr.Is4In6() || !w.addr.IsValid() {
		return nil, false
	}
	for _, s := range []string{w.hostVeth, w.hostMAC, w.ifName, w.netns, w.dummy} {
		if !plainJSONString(s) {
			return nil, false
		}
	}
	bits, ipVersion := 32, "4"
	if w.addr.Is6() {
		bits, ipVersion = 128, "6"
	}
	b := make([]byte, 0, 384)
	b = append(b, `{"cniVersion":"`...)
	b = append(b, version...)
	b = append(b, `","interfaces":[`...)
	b = appendInterface(b, w.hostVeth, w.hostMAC, "")
	b = append(b, ',')
	b = appendInterface(b, w.ifName, strconv.Itoa(w.routeTable), w.netns)
	b = append(b, ',')
	b = appendInterface(b, w.dummy, strconv.Itoa(w.vlan), strconv.Itoa(w.deviceNumber))
	b = append(b, `],"ips":[{`...)
	if withIPVersion {
		b = append(b, `"version":"`...)
		b = append(b, ipVersion...)
		b = append(b, `",`...)
	}
	b = append(b, `"interface":1,"address":"`...)
	b = netip.PrefixFrom(w.addr, bits).AppendTo(b)
	b = append(b, `"}]`...)
	if withIPVersion {
		// 0.4.0's layout keeps an empty DNS object; 1.0.0's drops it.
		b = append(b, `,"dns":{}`...)
	}
	return append(b, '}'), true
}

// appendInterface appends one entry of a result's interfaces, leaving out
// empty optional fields as the library does.
func appendInterface(b []byte, name, mac, sandbox string) []byte {
	b = append(b, `{"name":"`...)
	b = append(b, name...)
	b = append(b, '"')
	if mac != "" {
		b = append(b, `,"mac":"`...)
		b = append(b, mac...)
		b = append(b, '"')
	}
	if sandbox != "" {
		b = append(b, `,"sandbox":"`...)
		b = append(b, sandbox...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// plainJSONString reports whether s is written in JSON between quotes as
// it is: printable ASCII other than the quote, the backslash and the three
// characters encoding/json escapes for HTML (<, >, &).
func plainJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// prevState is what a prevResult says about a pod this plugin wired.
type prevState struct {
	hostVeth     string
	addr         netip.Addr
	routeTable   int // 0: unknown
	deviceNumber int // -1: unknown
	vlan         int
}

// parsePrevResult reads the prevResult of DEL or CHECK. ok is false when
// there is none or it has no address on ifName (nothing of ours to undo).
// In a chain the result also holds other plugins' interfaces (egress-cni's
// v4if0/v6if0 and their addresses), so the address is taken only from the
// container interface named ifName.
func parsePrevResult(conf *types.PluginConf, ifName, vethPrefix string) (prevState, bool, error) {
	st := prevState{deviceNumber: -1}
	if conf.RawPrevResult == nil {
		return st, false, nil
	}
	if err := cniversion.ParsePrevResult(conf); err != nil {
		return st, false, fmt.Errorf("parse prevResult: %w", err)
	}
	res, err := current.NewResultFromResult(conf.PrevResult)
	if err != nil {
		return st, false, fmt.Errorf("convert prevResult: %w", err)
	}
	container := -1
	for i, itf := range res.Interfaces {
		if itf == nil {
			continue
		}
		switch {
		case isDummy(itf):
			st.vlan, _ = strconv.Atoi(itf.Mac)
			if n, err := strconv.Atoi(itf.Sandbox); err == nil {
				st.deviceNumber = n
			}
		case itf.Sandbox != "" && itf.Name == ifName && container < 0:
			container = i
			if n, err := strconv.Atoi(itf.Mac); err == nil && n > 0 {
				st.routeTable = n
			}
		}
	}
	if container < 0 {
		return st, false, nil
	}
	// The host veth precedes its container interface; otherwise take any
	// host-side interface with our prefix.
	if before := container - 1; before >= 0 && res.Interfaces[before] != nil && res.Interfaces[before].Sandbox == "" && !isDummy(res.Interfaces[before]) {
		st.hostVeth = res.Interfaces[before].Name
	} else {
		for _, itf := range res.Interfaces {
			if itf != nil && itf.Sandbox == "" && strings.HasPrefix(itf.Name, vethPrefix) && !isDummy(itf) {
				st.hostVeth = itf.Name
				break
			}
		}
	}
	for _, ipc := range res.IPs {
		if ipc == nil || ipc.Interface == nil || *ipc.Interface != container {
			continue
		}
		a, ok := netip.AddrFromSlice(ipc.Address.IP)
		if !ok {
			continue
		}
		st.addr = a.Unmap()
		break
	}
	if !st.addr.IsValid() {
		return st, false, nil
	}
	if st.routeTable == 0 && st.deviceNumber >= 0 {
		// Older results carried no table: derive it as ipamd would for
		// network card 0.
		st.routeTable = core.RouteTableFor(0, st.deviceNumber)
	}
	return st, true, nil
}

// isDummy reports whether itf is the "dummy" record of a result (see
// buildResult): named "dummy" and 11 hex digits (dummyName), with the VLAN
// id as a decimal number in mac. Upstream sets sandbox to the device
// number for a normal pod but may leave it empty for a branch ENI pod, so
// sandbox does not decide.
func isDummy(itf *current.Interface) bool {
	hash, ok := strings.CutPrefix(itf.Name, "dummy")
	if !ok || !netlink.IsVethSuffix(hash) {
		return false
	}
	_, err := strconv.Atoi(itf.Mac)
	return err == nil
}

// routeTableOf picks the host table for an allocation: what ipamd said, or,
// from an ipamd that does not say, main for device 0 and device+1 else.
func routeTableOf(routeTable, deviceNumber int) int {
	if routeTable > 0 {
		return routeTable
	}
	if deviceNumber <= 0 {
		return mainTable
	}
	return core.RouteTableFor(0, deviceNumber)
}

func firstValid(addrs ...netip.Addr) netip.Addr {
	for _, a := range addrs {
		if a.IsValid() {
			return a
		}
	}
	return netip.Addr{}
}
