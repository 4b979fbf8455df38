package netlink

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	nl "github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/netlink/netstate"
	"github.com/vpc-cni/vpc-cni/adapters/netns"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

var (
	_ ports.HostNetwork = (*Datapath)(nil)
	_ ports.PodNetwork  = (*Datapath)(nil)
)

// Datapath programs the node's routing through netlink: ipamd uses its
// HostNetwork methods, the CNI plugin its PodNetwork methods.
type Datapath struct {
	cfg Config
	log *slog.Logger

	// mu serialises requests on h: a netlink socket carries one
	// request/response exchange at a time.
	mu     sync.Mutex
	h      *nl.Handle
	hostNs vnetns.NsHandle
	// ifreq is a socket in the node's namespace for SIOCGIFINDEX (-1 when
	// not open): a name's index by ioctl costs a fraction of a netlink
	// lookup, which returns and decodes the link's every attribute.
	ifreq int
	// prepared is what the last PreparePod left for SetupPod.
	prepared *preparedPod

	// Learned from the last SetupHost and from SetupENI/TeardownENI, for
	// Render.
	primary  string
	nodePort bool
	enis     map[int]string // route table → link name
}

// New opens a netlink socket in the node's namespace (cfg.Netns, or the
// process's own). Close releases it.
func New(cfg Config) (*Datapath, error) {
	cfg = cfg.withDefaults()
	if err := ValidateVethPrefix(cfg.VethPrefix); err != nil {
		return nil, fmt.Errorf("configure netlink datapath: %w", err)
	}
	d := &Datapath{cfg: cfg, log: cfg.Logger, enis: map[int]string{}, hostNs: vnetns.None(), ifreq: -1}
	open := func() error {
		h, err := nl.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return err
		}
		d.h = h
		d.ifreq, err = unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			d.ifreq = -1
			return fmt.Errorf("open a socket for interface lookups: %w", err)
		}
		return nil
	}
	var err error
	if cfg.Netns == "" {
		err = open()
		if err == nil {
			// The namespace of this thread is the process's: Do never
			// hands back a thread left in another one.
			runtime.LockOSThread()
			d.hostNs, err = vnetns.Get()
			runtime.UnlockOSThread()
		}
	} else {
		err = netns.Do(cfg.Netns, open)
		if err == nil {
			d.hostNs, err = vnetns.GetFromPath(cfg.Netns)
		}
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("open netlink in node namespace %q: %w", cfg.Netns, kernelErr(err))
	}
	return d, nil
}

// Close releases the netlink socket and the namespace handle.
func (d *Datapath) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dropPrepared()
	if d.h != nil {
		d.h.Close()
		d.h = nil
	}
	if d.ifreq >= 0 {
		_ = unix.Close(d.ifreq)
		d.ifreq = -1
	}
	if d.hostNs.IsOpen() {
		err := d.hostNs.Close()
		d.hostNs = vnetns.None()
		return err
	}
	return nil
}

// hostIndex returns the index of the node's link called name; the error
// wraps ENODEV when there is none.
func (d *Datapath) hostIndex(name string) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	if err := unix.IoctlIfreq(d.ifreq, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, err
	}
	return int(ifr.Uint32()), nil
}

// dump retries an interrupted netlink dump.
func dump[T any](d *Datapath, what string, f func() (T, error)) (T, error) {
	return retryDump(d.cfg.DumpAttempts, what, f)
}

// inHost runs fn on a thread in the node's namespace (for /proc/sys).
func (d *Datapath) inHost(fn func() error) error {
	if d.cfg.Netns == "" {
		return fn()
	}
	return netns.Do(d.cfg.Netns, fn)
}

// sysctlPath is the file of a net sysctl: parts are the path components
// below /proc/sys (an interface name may contain dots, so no dotted form).
func (d *Datapath) sysctlPath(parts ...string) string {
	return filepath.Join(append([]string{d.cfg.ProcSys}, parts...)...)
}

// writeSysctl writes value unless the file already holds it. Call from
// inside the right namespace.
func writeSysctl(path, value string) (changed bool, err error) {
	cur, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(cur)) == value {
		return false, nil
	}
	if err := setSysctl(path, value); err != nil {
		return false, err
	}
	return true, nil
}

func (d *Datapath) changed(level slog.Level, what, object string) {
	d.log.Log(context.Background(), level, "datapath changed", "change", what, "object", object)
}

// ---- host side ----------------------------------------------------------

// PrimaryInterface returns the link SetupHost last found carrying the
// primary ENI. See ports.HostNetwork.
func (d *Datapath) PrimaryInterface() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.primary
}

// SetupHost applies the node-wide settings. See ports.HostNetwork.
func (d *Datapath) SetupHost(ctx context.Context, cfg ports.HostConfig) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if cfg.ConnmarkRule && cfg.Mark == 0 {
		return fmt.Errorf("set up host: %w: connmark rule without a mark", core.ErrInvalidParameter)
	}
	for _, c := range cfg.ExternalServiceCIDRs {
		if !c.IsValid() || !c.Addr().Is4() {
			return fmt.Errorf("set up host: %w: external service CIDR %s is not IPv4", core.ErrInvalidParameter, c)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	link, err := d.findPrimary(cfg)
	if err != nil {
		return err
	}
	name := link.Attrs().Name
	d.primary = name
	if cfg.MTU > 0 && link.Attrs().MTU != cfg.MTU {
		if err := d.h.LinkSetMTU(link, cfg.MTU); err != nil {
			return fmt.Errorf("set MTU %d on %s: %w", cfg.MTU, name, kernelErr(err))
		}
		d.changed(slog.LevelInfo, "set mtu", name)
	}
	if err := d.syncRules(slog.LevelInfo,
		netstate.ConnmarkRuleSet(cfg.ConnmarkRule, cfg.Mark),
		netstate.ExternalServiceRuleSet(cfg.ExternalServiceCIDRs)); err != nil {
		return fmt.Errorf("set up host rules: %w", err)
	}
	if cfg.NodePortSupport {
		path := d.sysctlPath("net", "ipv4", "conf", name, "rp_filter")
		var changed bool
		if err := d.inHost(func() (err error) { changed, err = writeSysctl(path, "2"); return err }); err != nil {
			return fmt.Errorf("set loose reverse-path filtering on %s: %w", name, err)
		}
		if changed {
			d.changed(slog.LevelInfo, "set rp_filter=2", name)
		}
	}
	d.nodePort = cfg.NodePortSupport
	return nil
}

func (d *Datapath) findPrimary(cfg ports.HostConfig) (nl.Link, error) {
	if cfg.PrimaryInterface != "" {
		l, err := d.h.LinkByName(cfg.PrimaryInterface)
		if err != nil {
			return nil, fmt.Errorf("find primary interface %s: %w", cfg.PrimaryInterface, kernelErr(err))
		}
		return l, nil
	}
	mac, err := net.ParseMAC(cfg.PrimaryMAC)
	if err != nil {
		return nil, fmt.Errorf("find primary interface: %w: MAC %q: %w", core.ErrInvalidParameter, cfg.PrimaryMAC, err)
	}
	l, err := d.linkWithMAC(mac)
	if err != nil {
		return nil, fmt.Errorf("find primary interface: %w", err)
	}
	if l == nil {
		return nil, fmt.Errorf("find primary interface: %w: no link has MAC %s", core.ErrNotFound, mac)
	}
	return l, nil
}

// linkWithMAC returns the first link (by index) with the MAC, or nil.
// Call with d.mu held.
func (d *Datapath) linkWithMAC(mac net.HardwareAddr) (nl.Link, error) {
	links, err := dump(d, "list links", d.h.LinkList)
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if bytes.Equal(l.Attrs().HardwareAddr, mac) {
			return l, nil
		}
	}
	return nil, nil
}

// waitLinkWithMAC looks for the link of a just attached ENI, which can take
// a moment to appear, a bounded number of times.
func (d *Datapath) waitLinkWithMAC(ctx context.Context, mac net.HardwareAddr) (nl.Link, error) {
	for attempt := 1; ; attempt++ {
		d.mu.Lock()
		l, err := d.linkWithMAC(mac)
		d.mu.Unlock()
		if err != nil || l != nil {
			return l, err
		}
		if attempt >= d.cfg.LinkWaitAttempts {
			return nil, fmt.Errorf("find link with MAC %s: %w: not present after %d attempts", mac, core.ErrNotFound, attempt)
		}
		t := time.NewTimer(d.cfg.LinkWaitInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("find link with MAC %s: %w", mac, ctx.Err())
		case <-t.C:
		}
	}
}

func validateENI(eni ports.ENINetwork) (net.HardwareAddr, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("set up ENI %s: %w: %s", eni.ID, core.ErrInvalidParameter, fmt.Sprintf(format, args...))
	}
	mac, err := net.ParseMAC(eni.MAC)
	if err != nil {
		return nil, bad("MAC %q: %v", eni.MAC, err)
	}
	switch eni.RouteTable {
	case netstate.TableUnspec, netstate.TableDefault, netstate.TableMain, netstate.TableLocal:
		return nil, bad("route table %d is reserved (the primary ENI needs no SetupENI)", eni.RouteTable)
	}
	if eni.RouteTable < 0 {
		return nil, bad("route table %d", eni.RouteTable)
	}
	if !eni.PrimaryIP.Is4() || !eni.SubnetCIDR.IsValid() || !eni.SubnetCIDR.Contains(eni.PrimaryIP) {
		return nil, bad("primary IP %s not an IPv4 address in subnet %s", eni.PrimaryIP, eni.SubnetCIDR)
	}
	return mac, nil
}

// SetupENI wires one secondary ENI. See ports.HostNetwork.
func (d *Datapath) SetupENI(ctx context.Context, eni ports.ENINetwork) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	mac, err := validateENI(eni)
	if err != nil {
		return err
	}
	link, err := d.waitLinkWithMAC(ctx, mac)
	if err != nil {
		return fmt.Errorf("set up ENI %s: %w", eni.ID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	name := link.Attrs().Name
	d.enis[eni.RouteTable] = name
	if err := d.setupENILink(link, eni); err != nil {
		return fmt.Errorf("set up ENI %s on %s: %w", eni.ID, name, err)
	}
	return nil
}

func (d *Datapath) setupENILink(link nl.Link, eni ports.ENINetwork) error {
	attrs := link.Attrs()
	name := attrs.Name
	if eni.MTU > 0 && attrs.MTU != eni.MTU {
		if err := d.h.LinkSetMTU(link, eni.MTU); err != nil {
			return fmt.Errorf("set MTU %d: %w", eni.MTU, kernelErr(err))
		}
		d.changed(slog.LevelInfo, "set mtu", name)
	}
	if attrs.Flags&net.FlagUp == 0 {
		if err := d.h.LinkSetUp(link); err != nil {
			return fmt.Errorf("bring link up: %w", kernelErr(err))
		}
		d.changed(slog.LevelInfo, "link up", name)
	}

	// The ENI's primary address, with its subnet's mask, is the link's only
	// global IPv4 address.
	want := netip.PrefixFrom(eni.PrimaryIP, eni.SubnetCIDR.Bits())
	addrs, err := dump(d, "list addresses", func() ([]nl.Addr, error) { return d.h.AddrList(link, nl.FAMILY_V4) })
	if err != nil {
		return err
	}
	have := false
	for _, a := range addrs {
		if a.Scope != int(nl.SCOPE_UNIVERSE) {
			continue
		}
		if ipPrefix(a.IPNet) == want {
			have = true
			continue
		}
		if err := d.h.AddrDel(link, &a); err != nil && !isNotFound(err) {
			return fmt.Errorf("remove address %s: %w", a.IPNet, kernelErr(err))
		}
		d.changed(slog.LevelInfo, "remove address "+a.IPNet.String(), name)
	}
	if !have {
		if err := d.h.AddrAdd(link, &nl.Addr{IPNet: ipNet(want)}); err != nil && !isExist(err) {
			return fmt.Errorf("add address %s: %w", want, kernelErr(err))
		}
		d.changed(slog.LevelInfo, "add address "+want.String(), name)
	}

	// The ENI's table: gateway on-link, default through it, nothing else.
	desired := netstate.ENIRoutes(eni, name)
	for _, r := range desired {
		if err := d.h.RouteReplace(routeFromState(r, attrs.Index)); err != nil {
			return fmt.Errorf("replace route %q: %w", r.String(), kernelErr(err))
		}
	}
	if err := d.pruneRoutes(eni.RouteTable, func(r netstate.Route) bool {
		for _, w := range desired {
			if netstate.SameRoute(r, w) {
				return false
			}
		}
		return true
	}); err != nil {
		return err
	}

	// The subnet route the kernel adds to main with the address would send
	// replies to the subnet out of this ENI without the table's rule.
	subnet := eni.SubnetCIDR.Masked()
	if err := d.pruneRoutes(netstate.TableMain, func(r netstate.Route) bool {
		return r.Dev == name && r.Dst == subnet
	}); err != nil {
		return err
	}

	return d.syncRules(slog.LevelInfo, netstate.ENIRuleSet(eni.PrimaryIP, eni.RouteTable, true))
}

// pruneRoutes deletes the IPv4 routes of a table for which drop is true.
// Call with d.mu held.
func (d *Datapath) pruneRoutes(table int, drop func(netstate.Route) bool) error {
	routes, err := dump(d, "list routes", func() ([]nl.Route, error) {
		return d.h.RouteListFiltered(nl.FAMILY_V4, &nl.Route{Table: table}, nl.RT_FILTER_TABLE)
	})
	if err != nil {
		return err
	}
	names := map[int]string{}
	for _, r := range routes {
		if _, ok := names[r.LinkIndex]; !ok && r.LinkIndex > 0 {
			if l, err := d.h.LinkByIndex(r.LinkIndex); err == nil {
				names[r.LinkIndex] = l.Attrs().Name
			}
		}
		s := routeState(r, names)
		if r.Type != unix.RTN_UNICAST || !drop(s) {
			continue
		}
		if err := d.h.RouteDel(&r); err != nil && !isNotFound(err) {
			return fmt.Errorf("delete route %q: %w", s.String(), kernelErr(err))
		}
		d.changed(slog.LevelInfo, "delete route", s.String())
	}
	return nil
}

// syncRules brings the IPv4 rules in line with the sets: stale rules and
// duplicates are deleted, missing ones added. Call with d.mu held.
func (d *Datapath) syncRules(level slog.Level, sets ...netstate.RuleSet) error {
	raw, err := dump(d, "list rules", func() ([]nl.Rule, error) { return d.h.RuleList(nl.FAMILY_V4) })
	if err != nil {
		return err
	}
	var cur []netstate.Rule
	var idx []int
	for i, r := range raw {
		if plainRule(r) {
			cur = append(cur, ruleState(r))
			idx = append(idx, i)
		}
	}
	for _, set := range sets {
		del, add := netstate.PlanRules(cur, set)
		for _, i := range del {
			r := raw[idx[i]]
			if err := d.h.RuleDel(&r); err != nil && !isNotFound(err) {
				return fmt.Errorf("delete rule %q: %w", cur[i].String(), kernelErr(err))
			}
			d.changed(level, "delete rule", cur[i].String())
		}
		for _, w := range add {
			if err := d.h.RuleAdd(ruleFromState(w)); err != nil && !isExist(err) {
				return fmt.Errorf("add rule %q: %w", w.String(), kernelErr(err))
			}
			d.changed(level, "add rule", w.String())
		}
	}
	return nil
}

// TeardownENI removes the ENI's table and rule. See ports.HostNetwork.
func (d *Datapath) TeardownENI(ctx context.Context, eni ports.ENINetwork) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := validateENI(eni); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.enis, eni.RouteTable)
	if err := d.pruneRoutes(eni.RouteTable, func(netstate.Route) bool { return true }); err != nil {
		return fmt.Errorf("tear down ENI %s: %w", eni.ID, err)
	}
	if err := d.syncRules(slog.LevelInfo, netstate.ENIRuleSet(eni.PrimaryIP, eni.RouteTable, false)); err != nil {
		return fmt.Errorf("tear down ENI %s: %w", eni.ID, err)
	}
	return nil
}

// Render prints the node's rules, ENI tables, pod routes, links and the
// managed sysctls (netstate.NodeView).
func (d *Datapath) Render(ctx context.Context) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	s, err := snapshot(d.h, d.cfg.DumpAttempts)
	if err != nil {
		return "", fmt.Errorf("render node datapath: %w", err)
	}
	if d.nodePort && d.primary != "" {
		var v []byte
		path := d.sysctlPath("net", "ipv4", "conf", d.primary, "rp_filter")
		if err := d.inHost(func() (err error) { v, err = os.ReadFile(path); return err }); err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("render node datapath: read %s: %w", path, err)
		}
		val := strings.TrimSpace(string(v))
		if val == "" {
			val = "missing"
		}
		s.Sysctls = append(s.Sysctls, netstate.Sysctl{Key: "net.ipv4.conf." + d.primary + ".rp_filter", Value: val})
	}
	return netstate.NodeView(s, netstate.NodeOptions{Primary: d.primary, VethPrefix: d.cfg.VethPrefix, ENIs: d.enis}).Render(), nil
}
