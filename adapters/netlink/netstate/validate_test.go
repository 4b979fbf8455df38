package netstate

import (
	"errors"
	"net/netip"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

func TestValidatePodSpecs(t *testing.T) {
	good := ports.PodSpec{ContainerID: "c1", Netns: "/run/netns/p", IfName: "eth0", HostVeth: "eni0123456789a",
		Addr: netip.MustParseAddr("10.0.0.5"), MTU: 9001, RouteTable: 2}
	mod := func(f func(*ports.PodSpec)) ports.PodSpec { p := good; f(&p); return p }
	cases := []struct {
		name      string
		spec      ports.PodSpec
		linksWant string // "" = ValidatePodLinks accepts
		podWant   string // "" = ValidatePod accepts
	}{
		{"good", good, "", ""},
		{"no netns", mod(func(p *ports.PodSpec) { p.Netns = "" }), "no network namespace", "no network namespace"},
		{"long ifname", mod(func(p *ports.PodSpec) { p.IfName = "interface-too-long" }), "interface name", "interface name"},
		{"no veth", mod(func(p *ports.PodSpec) { p.HostVeth = "" }), "host veth name", "host veth name"},
		{"negative MTU", mod(func(p *ports.PodSpec) { p.MTU = -1 }), "MTU -1", "MTU -1"},
		{"no address yet (prepare)", mod(func(p *ports.PodSpec) { p.Addr = netip.Addr{} }), "", "not IPv4"},
		{"IPv6 address", mod(func(p *ports.PodSpec) { p.Addr = netip.MustParseAddr("2600::5") }), "", "not IPv4"},
		{"local table", mod(func(p *ports.PodSpec) { p.RouteTable = TableLocal }), "", "route table 255"},
		{"no table", mod(func(p *ports.PodSpec) { p.RouteTable = 0 }), "", "route table 0"},
	}
	check := func(name, fn string, err error, want string) {
		t.Helper()
		if want == "" {
			if err != nil {
				t.Errorf("%s: %s rejected a valid spec: %v", name, fn, err)
			}
			return
		}
		if err == nil || !errors.Is(err, core.ErrInvalidParameter) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %s = %v, want ErrInvalidParameter mentioning %q", name, fn, err, want)
		}
	}
	for _, c := range cases {
		check(c.name, "ValidatePodLinks", ValidatePodLinks(c.spec), c.linksWant)
		check(c.name, "ValidatePod", ValidatePod(c.spec), c.podWant)
	}

	route := ports.PodRoute{Addr: netip.MustParseAddr("10.0.0.5"), RouteTable: 254, HostVeth: "eni0123456789a"}
	check("route", "ValidatePodRoute", ValidatePodRoute(route), "")
	route.Addr = netip.MustParseAddr("2600::1")
	check("v6 route", "ValidatePodRoute", ValidatePodRoute(route), "not IPv4")
	route.Addr, route.HostVeth = netip.MustParseAddr("10.0.0.5"), ""
	check("route without veth", "ValidatePodRoute", ValidatePodRoute(route), "host veth name")
	route.HostVeth, route.RouteTable = "eni0123456789a", TableDefault
	check("default table", "ValidatePodRoute", ValidatePodRoute(route), "route table")
}
