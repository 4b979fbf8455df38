package netlink

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"

	nl "github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpc-cni/vpc-cni/adapters/netlink/netstate"
	"github.com/vpc-cni/vpc-cni/adapters/netns"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// podHandle opens a netlink socket inside the pod's namespace; it stays
// bound to that namespace whatever thread uses it later. The socket is made
// by netlink's NewHandleAt on the calling goroutine, its thread entering
// the namespace and back, rather than on a fresh goroutine as netns.Do
// runs its function: the plugin opens one per command, and that
// goroutine's start and hand-off showed in every ADD.
func podHandle(path string) (*nl.Handle, error) {
	target, err := netns.Open(path)
	if err != nil {
		return nil, err
	}
	defer target.Close()
	h, err := nl.NewHandleAt(target, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("open netlink in network namespace %s: %w", path, err)
	}
	return h, nil
}

// randomMAC returns a random unicast, locally administered MAC. It need
// not be unpredictable, only unlikely to collide (as the kernel's own
// random MACs), so it comes from math/rand rather than the slower
// crypto/rand.
func randomMAC() net.HardwareAddr {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	mac := net.HardwareAddr(b[:6])
	mac[0] = (mac[0] | 0x02) &^ 0x01
	return mac
}

// vethPair is a pod's veth pair as preparePair leaves it: both ends up,
// the pod's routes and gateway neighbour in place.
type vethPair struct {
	host, pod nl.Link
	// fresh: created by this call, so the pod end carries no address yet.
	fresh bool
}

func (v vethPair) result() ports.PodResult {
	return ports.PodResult{
		HostVeth:     v.host.Attrs().Name,
		HostMAC:      v.host.Attrs().HardwareAddr.String(),
		ContainerMAC: v.pod.Attrs().HardwareAddr.String(),
	}
}

// preparedPod is the pair the last PreparePod left for the SetupPod that
// follows: the netlink handle in the pod's namespace stays open and the
// links are known, so SetupPod neither enters the namespace again nor
// looks the links up.
type preparedPod struct {
	netns, ifName, hostVeth string
	mtu                     int
	ph                      *nl.Handle
	pair                    vethPair
}

// takePrepared returns the prepared pair for p and forgets it, or nil when
// the last PreparePod was for another interface (or, with sameMTU, another
// MTU). The caller closes the handle. Call with d.mu held.
func (d *Datapath) takePrepared(p ports.PodSpec, sameMTU bool) *preparedPod {
	pp := d.prepared
	if pp == nil || pp.netns != p.Netns || pp.ifName != p.IfName || pp.hostVeth != p.HostVeth || (sameMTU && pp.mtu != p.MTU) {
		return nil
	}
	d.prepared = nil
	return pp
}

// dropPrepared forgets the prepared pair, if any. Call with d.mu held.
func (d *Datapath) dropPrepared() {
	if d.prepared != nil {
		d.prepared.ph.Close()
		d.prepared = nil
	}
}

// PreparePod creates (or reuses) the pod's veth pair and does everything
// that does not depend on the address. See ports.PodNetwork.
//
// The host end comes up here, before the pod has an address; ipamd's
// repair (SyncPodRules) may then add the pod's rules and host route a
// moment before SetupPod does, which is the same state either way.
func (d *Datapath) PreparePod(ctx context.Context, p ports.PodSpec) (ports.PodResult, error) {
	if err := ctx.Err(); err != nil {
		return ports.PodResult{}, err
	}
	if err := netstate.ValidatePodLinks(p); err != nil {
		return ports.PodResult{}, err
	}
	ph, err := podHandle(p.Netns)
	if err != nil {
		return ports.PodResult{}, fmt.Errorf("prepare pod %s: %w", p.ContainerID, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	pair, err := d.preparePair(ph, p)
	if err != nil {
		ph.Close()
		return ports.PodResult{}, fmt.Errorf("prepare pod %s (%s): %w", p.ContainerID, p.HostVeth, err)
	}
	d.dropPrepared()
	d.prepared = &preparedPod{netns: p.Netns, ifName: p.IfName, hostVeth: p.HostVeth, mtu: p.MTU, ph: ph, pair: pair}
	return pair.result(), nil
}

// SetupPod wires a pod. See ports.PodNetwork.
//
// The veth pair is created from inside the pod's namespace with its peer
// placed directly in the node's, as upstream does: creating it on the node
// and moving one end would cost a namespace move, which waits for an RCU
// grace period in the kernel. When both ends already exist and are each
// other's peer (a retried ADD) the pair is kept and re-configured;
// otherwise leftovers under either name are deleted and the pair is made
// afresh. After a PreparePod for the same interface only the
// address-dependent steps are left: the pod's address, the host route and
// the rules. Should they fail on the prepared pair (something deleted it
// meanwhile), SetupPod starts over as if there had been no PreparePod.
func (d *Datapath) SetupPod(ctx context.Context, p ports.PodSpec) (ports.PodResult, error) {
	if err := ctx.Err(); err != nil {
		return ports.PodResult{}, err
	}
	if err := netstate.ValidatePod(p); err != nil {
		return ports.PodResult{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if pp := d.takePrepared(p, true); pp != nil {
		err := d.configurePod(pp.ph, pp.pair, p)
		pp.ph.Close()
		if err == nil {
			return pp.pair.result(), nil
		}
		// Something changed the pair since PreparePod (or the step failed
		// for another reason): do it all again, from a fresh look.
		d.log.Debug("prepared pod pair not usable, wiring it afresh", "hostVeth", p.HostVeth, "error", err)
	}
	ph, err := podHandle(p.Netns)
	if err != nil {
		return ports.PodResult{}, fmt.Errorf("wire pod %s: %w", p.ContainerID, err)
	}
	defer ph.Close()
	pair, err := d.preparePair(ph, p)
	if err == nil {
		err = d.configurePod(ph, pair, p)
	}
	if err != nil {
		return ports.PodResult{}, fmt.Errorf("wire pod %s (%s, %s): %w", p.ContainerID, p.HostVeth, p.Addr, err)
	}
	return pair.result(), nil
}

// preparePair makes the pair and sets up what does not depend on the
// address. Call with d.mu held.
func (d *Datapath) preparePair(ph *nl.Handle, p ports.PodSpec) (vethPair, error) {
	hostLink, podLink, fresh, err := d.ensureVeth(ph, p)
	if err != nil {
		return vethPair{}, err
	}

	// Host end: IPv6 off before it comes up, then up.
	if err := d.hostVethSysctls(p.HostVeth); err != nil {
		return vethPair{}, err
	}
	if hostLink.Attrs().Flags&net.FlagUp == 0 {
		if err := d.h.LinkSetUp(hostLink); err != nil {
			return vethPair{}, fmt.Errorf("bring %s up: %w", p.HostVeth, kernelErr(err))
		}
	}

	// Pod end: up, routes through the link-local gateway (they need no
	// address), and the gateway resolved statically to the host end's MAC.
	// The neighbour comes after the link is up: bringing a link down or up
	// flushes its neighbours.
	if podLink.Attrs().Flags&net.FlagUp == 0 {
		if err := ph.LinkSetUp(podLink); err != nil {
			return vethPair{}, fmt.Errorf("bring %s up in the pod: %w", p.IfName, kernelErr(err))
		}
	}
	for _, r := range netstate.PodRoutes(p.IfName) {
		if err := ph.RouteReplace(routeFromState(r, podLink.Attrs().Index)); err != nil {
			return vethPair{}, fmt.Errorf("replace route %q in the pod: %w", r.String(), kernelErr(err))
		}
	}
	neigh := &nl.Neigh{
		LinkIndex:    podLink.Attrs().Index,
		Family:       nl.FAMILY_V4,
		State:        unix.NUD_PERMANENT,
		IP:           net.IP(netstate.PodGateway.AsSlice()),
		HardwareAddr: hostLink.Attrs().HardwareAddr,
	}
	if err := ph.NeighSet(neigh); err != nil {
		return vethPair{}, fmt.Errorf("set neighbour %s in the pod: %w", netstate.PodGateway, kernelErr(err))
	}
	return vethPair{host: hostLink, pod: podLink, fresh: fresh}, nil
}

// configurePod adds what depends on the address to a prepared pair: the
// pod address as the pod end's only global address, the node's /32 route
// to the pod and its rules. Call with d.mu held.
func (d *Datapath) configurePod(ph *nl.Handle, pair vethPair, p ports.PodSpec) error {
	// The new address goes on before any other is removed: removing an
	// interface's last IPv4 address makes the kernel flush its routes and
	// neighbours, which preparePair has already put in place.
	want := netstate.HostPrefix(p.Addr)
	if err := ph.AddrAdd(pair.pod, &nl.Addr{IPNet: ipNet(want)}); err != nil && !isExist(err) {
		return fmt.Errorf("add address %s in the pod: %w", want, kernelErr(err))
	}
	if !pair.fresh {
		addrs, err := dump(d, "list pod addresses", func() ([]nl.Addr, error) { return ph.AddrList(pair.pod, nl.FAMILY_V4) })
		if err != nil {
			return err
		}
		for _, a := range addrs {
			if a.Scope != int(nl.SCOPE_UNIVERSE) || ipPrefix(a.IPNet) == want {
				continue
			}
			if err := ph.AddrDel(pair.pod, &a); err != nil && !isNotFound(err) {
				return fmt.Errorf("remove address %s in the pod: %w", a.IPNet, kernelErr(err))
			}
		}
	}

	hr := netstate.HostPodRoute(p)
	if err := d.h.RouteReplace(routeFromState(hr, pair.host.Attrs().Index)); err != nil {
		return fmt.Errorf("replace route %q: %w", hr.String(), kernelErr(err))
	}
	return d.podRules(p, true)
}

// maxRuleDeletes bounds the deletions of one rule set's Match in podRules.
// Our own adds never make duplicates (the kernel refuses an identical
// rule), so more than a few matches means something else keeps adding
// them; the set is then planned from a listing instead.
const maxRuleDeletes = 8

// podRules puts the pod address's two rule sets in place (present) or
// removes them, without reading the node's rule list. Listing it on every
// ADD and DEL made both slower the more pods the node had (each pod on a
// secondary ENI adds two rules). Instead each set's Match, which leaves
// the table open, is deleted until the kernel finds none, and then the
// wanted rule is added: stale rules of the address (another table, because
// the address belonged to another ENI when a DEL was lost) go with ours,
// and a new pod costs one "not found" per set. A retried ADD deletes and
// re-adds its rules, which is harmless before the pod runs. Call with d.mu
// held.
func (d *Datapath) podRules(p ports.PodSpec, present bool) error {
	for _, set := range netstate.PodRuleSets(p.Addr, p.RouteTable, present) {
		if err := d.enforceRuleSet(set); err != nil {
			return err
		}
	}
	return nil
}

// enforceRuleSet applies a set with a Match as described at podRules,
// falling back to syncRules when the deletions do not run out.
func (d *Datapath) enforceRuleSet(set netstate.RuleSet) error {
	match := ruleFromState(set.Match)
	for n := 0; ; n++ {
		if n == maxRuleDeletes {
			d.log.Warn("many copies of a pod rule, planning from the rule list", "rule", set.Match.String())
			return d.syncRules(slog.LevelDebug, set)
		}
		err := d.h.RuleDel(match)
		if isNotFound(err) {
			break
		}
		if err != nil {
			return fmt.Errorf("delete rules %q: %w", set.Match.String(), kernelErr(err))
		}
		d.changed(slog.LevelDebug, "delete rule", set.Match.String())
	}
	for _, w := range set.Want {
		if err := d.h.RuleAdd(ruleFromState(w)); err != nil && !isExist(err) {
			return fmt.Errorf("add rule %q: %w", w.String(), kernelErr(err))
		}
		d.changed(slog.LevelDebug, "add rule", w.String())
	}
	return nil
}

// ensureVeth returns the two ends of the pod's veth pair, reusing a pair
// that is already there and recreating anything else; fresh says it made
// the pair.
//
// A new pod is the common case, so the pair is created straight away; only
// when the kernel refuses because a name is taken (a retried ADD, leftovers
// of an earlier attempt) does it look at what is there.
func (d *Datapath) ensureVeth(ph *nl.Handle, p ports.PodSpec) (host, pod nl.Link, fresh bool, err error) {
	host, pod, err = d.createVeth(ph, p)
	if err == nil {
		return host, pod, true, nil
	}
	if !isExist(err) {
		return nil, nil, false, err
	}
	host, herr := d.h.LinkByName(p.HostVeth)
	if herr != nil && !isNotFound(herr) {
		return nil, nil, false, fmt.Errorf("look up %s: %w", p.HostVeth, kernelErr(herr))
	}
	pod, perr := ph.LinkByName(p.IfName)
	if perr != nil && !isNotFound(perr) {
		return nil, nil, false, fmt.Errorf("look up %s in the pod: %w", p.IfName, kernelErr(perr))
	}
	if host != nil && pod != nil && pairOf(host, pod) {
		if p.MTU > 0 {
			for _, end := range []struct {
				h    *nl.Handle
				link nl.Link
			}{{d.h, host}, {ph, pod}} {
				if end.link.Attrs().MTU != p.MTU {
					if err := end.h.LinkSetMTU(end.link, p.MTU); err != nil {
						return nil, nil, false, fmt.Errorf("set MTU %d on %s: %w", p.MTU, end.link.Attrs().Name, kernelErr(err))
					}
				}
			}
		}
		return host, pod, false, nil
	}

	// Leftovers of an earlier, partial attempt (or of another pod that had
	// the name): delete them, which also removes their peers.
	if host != nil {
		if !isVeth(host) {
			return nil, nil, false, fmt.Errorf("%w: host link %s exists and is not a veth", core.ErrDuplicate, p.HostVeth)
		}
		if err := d.h.LinkDel(host); err != nil && !isNotFound(err) {
			return nil, nil, false, fmt.Errorf("delete stale %s: %w", p.HostVeth, kernelErr(err))
		}
		d.changed(slog.LevelDebug, "delete stale veth", p.HostVeth)
	}
	if pod != nil {
		// Deleting the host end may have taken this one with it.
		if pod, perr = ph.LinkByName(p.IfName); perr == nil {
			if !isVeth(pod) {
				return nil, nil, false, fmt.Errorf("%w: pod interface %s exists and is not a veth", core.ErrDuplicate, p.IfName)
			}
			if err := ph.LinkDel(pod); err != nil && !isNotFound(err) {
				return nil, nil, false, fmt.Errorf("delete stale %s in the pod: %w", p.IfName, kernelErr(err))
			}
		}
	}
	host, pod, err = d.createVeth(ph, p)
	if err != nil {
		return nil, nil, false, err
	}
	return host, pod, true, nil
}

// createVeth makes the pair from inside the pod's namespace, its peer
// placed in the node's. Both MACs are chosen here, so neither end needs a
// full lookup afterwards: the kernel creates both down, with the
// attributes asked for, and only the node end's index is looked up (by
// ioctl). An error wraps EEXIST when either name is taken (the kernel then
// creates neither end).
func (d *Datapath) createVeth(ph *nl.Handle, p ports.PodSpec) (host, pod nl.Link, err error) {
	attrs := nl.NewLinkAttrs()
	attrs.Name = p.IfName
	attrs.MTU = p.MTU
	attrs.HardwareAddr = randomMAC()
	// One queue each way, for both ends (netlink copies these to the
	// peer). Without them the kernel gives a veth one queue per possible
	// CPU, registers them all (sysfs objects included) and then cuts the
	// active ones back to one, and cutting back waits for an expedited RCU
	// grace period, once per end: IPIs to every CPU of the node, on every
	// pod ADD. One queue is what the kernel leaves a veth with anyway.
	attrs.NumTxQueues = 1
	attrs.NumRxQueues = 1
	veth := &nl.Veth{
		LinkAttrs:        attrs,
		PeerName:         p.HostVeth,
		PeerHardwareAddr: randomMAC(),
		PeerNamespace:    nl.NsFd(int(d.hostNs)),
	}
	if err := ph.LinkAdd(veth); err != nil {
		return nil, nil, fmt.Errorf("create veth %s (pod) / %s (node): %w", p.IfName, p.HostVeth, kernelErr(err))
	}
	idx, err := d.hostIndex(p.HostVeth)
	if err != nil {
		return nil, nil, fmt.Errorf("look up new %s: %w", p.HostVeth, kernelErr(err))
	}
	hostAttrs := nl.NewLinkAttrs()
	hostAttrs.Name = p.HostVeth
	hostAttrs.Index = idx
	hostAttrs.MTU = p.MTU
	hostAttrs.HardwareAddr = veth.PeerHardwareAddr
	host = &nl.Veth{LinkAttrs: hostAttrs, PeerName: p.IfName}
	// LinkAdd looked the new link up to fill in its index.
	if veth.Index == 0 {
		if pod, err = ph.LinkByName(p.IfName); err != nil {
			return nil, nil, fmt.Errorf("look up new %s in the pod: %w", p.IfName, kernelErr(err))
		}
		return host, pod, nil
	}
	return host, veth, nil
}

func isVeth(l nl.Link) bool { return l.Type() == "veth" }

// pairOf reports whether host (in the node's namespace) and pod (in the
// pod's) are the two ends of one veth pair: each names the other's index
// as its peer.
func pairOf(host, pod nl.Link) bool {
	return isVeth(host) && isVeth(pod) &&
		host.Attrs().ParentIndex == pod.Attrs().Index && pod.Attrs().ParentIndex == host.Attrs().Index
}

// hostVethSysctls keeps the host end out of IPv6 autoconfiguration and
// forwarding, when the kernel has IPv6 at all. The values are written
// without reading them first: the link is new, or re-set to the same.
func (d *Datapath) hostVethSysctls(name string) error {
	dir := d.sysctlPath("net", "ipv6", "conf", name)
	return d.inHost(func() error {
		for i, kv := range [][2]string{{"accept_ra", "0"}, {"accept_redirects", "1"}, {"forwarding", "0"}} {
			err := setSysctl(dir+"/"+kv[0], kv[1])
			if i == 0 && errors.Is(err, fs.ErrNotExist) {
				return nil // no IPv6 on this node
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// setSysctl writes value to an existing sysctl file.
func setSysctl(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("write sysctl %s: %w", path, err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write sysctl %s: %w", path, err)
	}
	return nil
}

// TeardownPod unwires a pod. See ports.PodNetwork. Anything already gone,
// including the pod's namespace, is fine. Without an address (an ADD whose
// address never came) it removes only the veth pair.
//
// The host veth is deleted only when it is the peer of the interface in
// this pod's namespace: a DEL for an old sandbox that arrives after a new
// sandbox of the same pod took the same veth name must not cut the new one
// off. (A veth never outlives its peer, so when the old namespace is gone
// its veth is gone too.) The address's rules are removed in any case.
func (d *Datapath) TeardownPod(ctx context.Context, p ports.PodSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	d.mu.Lock()
	pp := d.takePrepared(p, false)
	d.mu.Unlock()
	var ph *nl.Handle
	if pp != nil {
		ph = pp.ph // a pair PreparePod made and no SetupPod took
		defer ph.Close()
	} else if p.Netns != "" {
		h, err := podHandle(p.Netns)
		if err != nil {
			d.log.Debug("pod namespace not usable, its interfaces are gone", "netns", p.Netns, "error", err)
		} else {
			ph = h
			defer ph.Close()
		}
	}
	if err := d.teardownPod(ph, p); err != nil {
		return fmt.Errorf("unwire pod %s (%s, %s): %w", p.ContainerID, p.HostVeth, p.Addr, err)
	}
	return nil
}

func (d *Datapath) teardownPod(ph *nl.Handle, p ports.PodSpec) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var pod nl.Link
	if ph != nil && p.IfName != "" {
		if l, err := ph.LinkByName(p.IfName); err == nil && isVeth(l) {
			pod = l
		}
	}
	if pod != nil {
		host, err := d.h.LinkByName(p.HostVeth)
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("look up %s: %w", p.HostVeth, kernelErr(err))
		}
		if host != nil && !pairOf(host, pod) {
			host = nil // the pod's peer has another name: delete from the pod side
		}
		if host != nil && p.Addr.IsValid() {
			hr := netstate.HostPodRoute(p)
			if err := d.h.RouteDel(routeFromState(hr, host.Attrs().Index)); err != nil && !isNotFound(err) {
				return fmt.Errorf("delete route %q: %w", hr.String(), kernelErr(err))
			}
		}
		// Deleting either end removes the pair and every route through it.
		if host != nil {
			err = d.h.LinkDel(host)
		} else {
			err = ph.LinkDel(pod)
		}
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("delete veth %s/%s: %w", p.IfName, p.HostVeth, kernelErr(err))
		}
	}
	if p.Addr.IsValid() {
		return d.podRules(p, false)
	}
	return nil
}

// CheckPod verifies the pod's wiring on both sides. See ports.PodNetwork.
// The error wraps core.ErrNotFound and names everything that is missing.
func (d *Datapath) CheckPod(ctx context.Context, p ports.PodSpec) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := netstate.ValidatePod(p); err != nil {
		return err
	}
	ph, err := podHandle(p.Netns)
	if err != nil {
		return fmt.Errorf("check pod %s: %w", p.ContainerID, err)
	}
	defer ph.Close()
	pod, err := snapshot(ph, d.cfg.DumpAttempts)
	if err != nil {
		return fmt.Errorf("check pod %s: %w", p.ContainerID, err)
	}
	d.mu.Lock()
	node, err := snapshot(d.h, d.cfg.DumpAttempts)
	d.mu.Unlock()
	if err != nil {
		return fmt.Errorf("check pod %s: %w", p.ContainerID, err)
	}
	if problems := netstate.CheckPod(node, pod, p); len(problems) > 0 {
		return fmt.Errorf("check pod %s: %w: %s", p.ContainerID, core.ErrNotFound, strings.Join(problems, "; "))
	}
	return nil
}

// RenderPod prints what the plugin wired inside the pod's namespace
// (netstate.PodView): its interface, routes and permanent neighbours.
func (d *Datapath) RenderPod(ctx context.Context, p ports.PodSpec) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	ph, err := podHandle(p.Netns)
	if err != nil {
		return "", fmt.Errorf("render pod %s: %w", p.ContainerID, err)
	}
	defer ph.Close()
	s, err := snapshot(ph, d.cfg.DumpAttempts)
	if err != nil {
		return "", fmt.Errorf("render pod %s: %w", p.ContainerID, err)
	}
	return netstate.PodView(s).Render(), nil
}
