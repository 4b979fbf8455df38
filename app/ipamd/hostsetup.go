package ipamd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"go.uber.org/fx"

	"github.com/vpc-cni/vpc-cni/adapters/datapathmem"
	"github.com/vpc-cni/vpc-cni/adapters/netlink/netstate"
	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/datastore"
	"github.com/vpc-cni/vpc-cni/ports"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// hostSetupModule programs the host datapath and firewall once the node
// is known, before any pod is served.
var hostSetupModule = fx.Module("hostsetup",
	fx.Provide(newDatapath, newOrphans),
	fx.Invoke(registerHostSetup),
)

// eniSetupTimeout bounds wiring one new ENI from the service's loop.
const eniSetupTimeout = time.Minute

// datapath applies the node-wide state ipamd owns: host routing for the
// primary interface and every secondary ENI, and the firewall. Calls are
// serialised: the pool loop (new ENIs) and the repair loop share it.
type datapath struct {
	host ports.HostNetwork
	fw   ports.Firewall
	env  config.Env
	o    Options
	log  *slog.Logger

	// beforeHost and beforeENI run before SetupHost and each SetupENI:
	// the in-memory datapath's hypervisor, then Options' hooks.
	beforeHost, beforeENI []func(core.ENI) error

	mu sync.Mutex // serialises the passes over the host datapath

	// failing holds, under mu, the secondary ENIs whose last setup failed.
	failing map[core.ENIID]*eniFailure

	// errors are the running totals by step, for metrics. They have their
	// own lock: every pod ADD reads them (the metrics refresh), and must
	// not wait behind a pass that holds mu while an ENI's link is awaited
	// for seconds.
	errMu  sync.Mutex
	errors map[string]int
}

func newDatapath(host ports.HostNetwork, fw ports.Firewall, env config.Env, o Options, log *slog.Logger) *datapath {
	d := &datapath{host: host, fw: fw, env: env, o: o, log: log.With("component", "datapath"), errors: map[string]int{},
		failing: map[core.ENIID]*eniFailure{}}
	if n, ok := host.(*datapathmem.Network); ok {
		h := newMemoryHypervisor(n)
		d.beforeHost = append(d.beforeHost, h.ensure)
		d.beforeENI = append(d.beforeENI, h.ensure)
	}
	if o.BeforeHostSetup != nil {
		d.beforeHost = append(d.beforeHost, o.BeforeHostSetup)
	}
	if o.BeforeENISetup != nil {
		d.beforeENI = append(d.beforeENI, o.BeforeENISetup)
	}
	return d
}

func runHooks(hooks []func(core.ENI) error, e core.ENI) error {
	for _, h := range hooks {
		if err := h(e); err != nil {
			return err
		}
	}
	return nil
}

func (d *datapath) hostConfig(inst core.Instance) ports.HostConfig {
	v6 := d.env.EnableIPv6
	return ports.HostConfig{
		PrimaryInterface:     d.o.PrimaryInterface,
		PrimaryMAC:           inst.PrimaryMAC,
		PrimaryIP:            inst.PrimaryIP,
		MTU:                  d.env.ENIMTU,
		ConnmarkRule:         !v6 && (d.env.NodePortSupport || !d.env.ExternalSNAT),
		Mark:                 d.env.Connmark,
		ExternalServiceCIDRs: d.env.ExternalServiceCIDRs,
		NodePortSupport:      d.env.NodePortSupport,
	}
}

func (d *datapath) eniNetwork(e core.ENI) ports.ENINetwork {
	n := ports.ENINetwork{
		ID: e.ID, MAC: e.MAC, DeviceNumber: e.DeviceNumber, NetworkCard: e.NetworkCard,
		RouteTable: core.RouteTableFor(e.NetworkCard, e.DeviceNumber),
		PrimaryIP:  e.PrimaryIP, SubnetCIDR: e.SubnetCIDR, MTU: d.env.ENIMTU,
	}
	if e.SubnetCIDR.IsValid() {
		n.Gateway = e.SubnetCIDR.Masked().Addr().Next()
	}
	return n
}

func (d *datapath) firewallConfig(inst core.Instance, vpc []netip.Prefix) ports.FirewallConfig {
	var v4 []netip.Prefix
	for _, p := range vpc {
		if p.Addr().Is4() {
			v4 = append(v4, p)
		}
	}
	return ports.FirewallConfig{
		// IPv6 pods are not SNATed: no IPv4 rules at all.
		ExternalSNAT:     d.env.ExternalSNAT || d.env.EnableIPv6,
		PrimaryIP:        inst.PrimaryIP,
		PrimaryInterface: d.primaryInterface(),
		VPCCIDRs:         v4,
		ExcludeCIDRs:     d.env.ExcludeSNATCIDRs,
		RandomizeSNAT:    ports.SNATMode(d.env.RandomizeSNAT),
		VethPrefix:       d.env.VethPrefix,
		Mark:             d.env.Connmark,
		NodePortSupport:  d.env.NodePortSupport,
	}
}

// primaryInterface names the primary link for the firewall's NodePort
// rule: the one given by flag, else the one the host datapath found by the
// primary ENI's MAC ("ens5" on many AMIs, not always eth0). Before it has
// found one the firewall's default (eth0) applies; the repair pass
// corrects the rule once the link is known.
func (d *datapath) primaryInterface() string {
	if d.o.PrimaryInterface != "" || d.host == nil {
		return d.o.PrimaryInterface
	}
	return d.host.PrimaryInterface()
}

// checkFirewallConfig refuses a configuration that would break pods: on-node
// SNAT without the VPC's CIDRs would rewrite pod traffic to other VPC
// addresses too, and EC2 drops what pods on secondary ENIs then send. The
// rules in place are kept and the repair loop retries.
func checkFirewallConfig(fw ports.FirewallConfig) error {
	if !fw.ExternalSNAT && len(fw.VPCCIDRs) == 0 {
		return fmt.Errorf("the VPC's IPv4 CIDRs are unknown (neither EC2 nor instance metadata reported them); SNAT rules left as they are: %w",
			core.ErrInvalidState)
	}
	return nil
}

func (d *datapath) count(step string) {
	d.errMu.Lock()
	d.errors[step]++
	d.errMu.Unlock()
}

// setupENILocked wires one secondary ENI.
func (d *datapath) setupENILocked(ctx context.Context, e core.ENI) error {
	if err := runHooks(d.beforeENI, e); err != nil {
		d.count("datapath")
		return fmt.Errorf("prepare link of ENI %s (MAC %s): %w", e.ID, e.MAC, err)
	}
	if err := d.host.SetupENI(ctx, d.eniNetwork(e)); err != nil {
		d.count("datapath")
		return fmt.Errorf("set up ENI %s (MAC %s) at device %d: %w", e.ID, e.MAC, e.DeviceNumber, err)
	}
	return nil
}

// onENIReady is nodeipam's hook for an ENI it just attached.
func (d *datapath) onENIReady(e core.ENI) error {
	ctx, cancel := context.WithTimeout(context.Background(), eniSetupTimeout)
	defer cancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	err := d.setupENILocked(ctx, e)
	if err == nil {
		d.eniSetUpLocked(e)
		d.log.Info("ENI wired", "eni", string(e.ID), "device", e.DeviceNumber, "table", core.RouteTableFor(e.NetworkCard, e.DeviceNumber))
	}
	return err
}

// eniFailureReminder is how many failed passes in a row with the same
// error an ENI's setup is logged at debug level before a warning reminds
// the operator: ten minutes at the 30 s repair interval.
const eniFailureReminder = 20

// eniFailure is an ENI whose setup keeps failing: its last error, and the
// failed passes since it was last logged above debug level.
type eniFailure struct {
	msg   string
	quiet int
}

// eniFailedLocked logs a failed setup of a secondary ENI. An ENI whose link
// stays missing (moved into a pod by another plugin, say) fails every
// pass; it is logged at error level when it starts failing or its error
// changes, and then only as a periodic warning.
func (d *datapath) eniFailedLocked(e core.ENI, err error) {
	if d.failing == nil {
		d.failing = map[core.ENIID]*eniFailure{}
	}
	attrs := []any{"eni", string(e.ID), "mac", e.MAC, "device", e.DeviceNumber, "error", err}
	f, seen := d.failing[e.ID]
	switch {
	case !seen || f.msg != err.Error():
		d.failing[e.ID] = &eniFailure{msg: err.Error()}
		d.log.Error("setting up a secondary ENI failed; pods get none of its addresses until a later pass sets it up", attrs...)
	case f.quiet+1 >= eniFailureReminder:
		d.log.Warn("a secondary ENI is still not set up; pods get none of its addresses", append(attrs, "failed_passes", f.quiet+1)...)
		f.quiet = 0
	default:
		f.quiet++
		d.log.Debug("a secondary ENI is still not set up", attrs...)
	}
}

// eniSetUpLocked forgets an ENI's failures once its setup succeeded.
func (d *datapath) eniSetUpLocked(e core.ENI) {
	if _, ok := d.failing[e.ID]; ok {
		delete(d.failing, e.ID)
		d.log.Info("a secondary ENI that had failed its setup is set up", "eni", string(e.ID), "mac", e.MAC, "device", e.DeviceNumber)
	}
}

// secondaryENIs lists the attached ENIs ipamd routes pods through: managed
// (in the pool), not the primary, not a trunk (branch pods use VLAN
// tables the plugin programs).
func secondaryENIs(svc *nodeipam.Service) []core.ENI {
	managed := map[core.ENIID]bool{}
	for _, v := range svc.ENIs() {
		managed[v.ID] = true
	}
	var out []core.ENI
	for _, e := range svc.Instance().ENIs {
		if managed[e.ID] && !e.Primary && !e.Trunk && e.DeviceNumber > 0 {
			out = append(out, e)
		}
	}
	return out
}

// podRoutes lists the node side of every IPv4 pod ipamd has given an
// address (podRoutesOf), with the veths the node has: a pod wired before
// the veth prefix setting changed keeps the veth it was given.
func (d *datapath) podRoutes(ctx context.Context, svc *nodeipam.Service) []ports.PodRoute {
	names, err := d.host.HostVeths(ctx)
	if err != nil && ctx.Err() == nil {
		d.log.Warn("listing host veths failed; repairing pods under the names the current veth prefix gives", "error", err)
	}
	return podRoutesOf(svc.Assignments(), d.env.VethPrefix, netstate.PodVeths(names, d.env.VethPrefix))
}

// podRoutesOf maps assignments to what SyncPodRules needs: address, ENI
// table and host veth: the one in veths (netstate.PodVeths of the node's
// veths) for the pod, else the name the plugin gives it with vethPrefix.
// Assignments that name no pod are left out. When several name the same
// pod (a sandbox replaced while ipamd missed the old one's DEL), the veth
// is the newest sandbox's, so only the newest assignment is listed, and
// none when the newest cannot be told apart.
func podRoutesOf(as []datastore.Assignment, vethPrefix string, veths map[string]string) []ports.PodRoute {
	newest := map[core.PodRef]datastore.Assignment{}
	tied := map[core.PodRef]bool{}
	for _, a := range as {
		if !a.Addr.Is4() || a.Pod.Name == "" || a.Pod.Namespace == "" {
			continue
		}
		cur, ok := newest[a.Pod]
		switch {
		case !ok || a.AssignedAt.After(cur.AssignedAt):
			newest[a.Pod], tied[a.Pod] = a, false
		case a.AssignedAt.Equal(cur.AssignedAt):
			tied[a.Pod] = true
		}
	}
	var out []ports.PodRoute
	for _, a := range as {
		if cur, ok := newest[a.Pod]; !ok || tied[a.Pod] || cur.Key != a.Key {
			continue
		}
		suffix := netstate.VethSuffix(a.Pod.Namespace, a.Pod.Name)
		veth, ok := veths[suffix]
		if !ok {
			veth = vethPrefix + suffix
		}
		out = append(out, ports.PodRoute{Addr: a.Addr, RouteTable: a.RouteTable, HostVeth: veth})
	}
	return out
}

// apply makes the host state whole: host rules, every secondary ENI, the
// per-pod rules and routes (only adding what is missing), the firewall.
// It carries on past a failed step and returns the node-wide failures
// (host rules, firewall). A secondary ENI that cannot be set up is logged,
// counted and reported to the service, which keeps its addresses from pods
// until a later pass sets it up.
func (d *datapath) apply(ctx context.Context, svc *nodeipam.Service) error {
	inst := svc.Instance()
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	primary := core.ENI{ID: inst.PrimaryENI, MAC: inst.PrimaryMAC, PrimaryIP: inst.PrimaryIP, Primary: true}
	for _, e := range inst.ENIs {
		if e.ID == inst.PrimaryENI {
			primary = e
		}
	}
	hostErr := runHooks(d.beforeHost, primary)
	if hostErr != nil {
		hostErr = fmt.Errorf("prepare primary link (MAC %s): %w", inst.PrimaryMAC, hostErr)
	}
	if hostErr == nil {
		if err := d.host.SetupHost(ctx, d.hostConfig(inst)); err != nil {
			hostErr = fmt.Errorf("set up host network (primary MAC %s, MTU %d): %w", inst.PrimaryMAC, d.env.ENIMTU, err)
		}
	}
	if hostErr != nil {
		d.count("datapath")
		errs = append(errs, hostErr)
	}
	// One ENI whose link is missing (hot-attached a moment ago, moved into
	// a pod by Multus host-device) must not stop the node.
	secondary := secondaryENIs(svc)
	for _, e := range secondary {
		if err := d.setupENILocked(ctx, e); err != nil {
			if ctx.Err() != nil {
				errs = append(errs, err)
				continue
			}
			d.eniFailedLocked(e, err)
			svc.DatapathFailed(e.ID)
			continue
		}
		d.eniSetUpLocked(e)
		svc.DatapathReady(e.ID)
	}
	d.forgetGoneLocked(secondary)
	// A pod that cannot be repaired is logged, not returned: it must not
	// stop start-up, and so every other pod on the node.
	if pods := d.podRoutes(ctx, svc); len(pods) > 0 {
		if err := d.host.SyncPodRules(ctx, pods); err != nil && ctx.Err() == nil {
			d.count("datapath")
			d.log.Error("repairing pod rules and routes failed", "pods", len(pods), "error", err)
		}
	}
	fw := d.firewallConfig(inst, svc.VPCCIDRs())
	if err := checkFirewallConfig(fw); err != nil {
		d.count("firewall")
		errs = append(errs, fmt.Errorf("apply %s firewall rules: %w", d.fw.Name(), err))
	} else if err := d.fw.Apply(ctx, fw); err != nil {
		d.count("firewall")
		errs = append(errs, fmt.Errorf("apply %s firewall rules: %w", d.fw.Name(), err))
	}
	return errors.Join(errs...)
}

// forgetGoneLocked drops the failures of ENIs no longer in the pool.
func (d *datapath) forgetGoneLocked(secondary []core.ENI) {
	if len(d.failing) == 0 {
		return
	}
	in := make(map[core.ENIID]bool, len(secondary))
	for _, e := range secondary {
		in[e.ID] = true
	}
	for id := range d.failing {
		if !in[id] {
			delete(d.failing, id)
		}
	}
}

// errorTotals returns the running error totals by step.
func (d *datapath) errorTotals() map[string]int {
	d.errMu.Lock()
	defer d.errMu.Unlock()
	out := make(map[string]int, len(d.errors))
	for k, v := range d.errors {
		out[k] = v
	}
	return out
}

// repairLoop re-applies the host state every interval: anything removed
// behind ipamd's back (a flushed rule table, a deleted chain) comes back.
func (d *datapath) repairLoop(ctx context.Context, svc *nodeipam.Service, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.apply(ctx, svc); err != nil && ctx.Err() == nil {
				d.log.Error("datapath repair pass failed", "error", err)
			}
		}
	}
}

// applyOnVPCChange applies the host state again as soon as the VPC CIDRs
// change (a block associated with the VPC must leave SNAT at once, not at
// the next repair pass). It returns when ctx ends.
func (d *datapath) applyOnVPCChange(ctx context.Context, svc *nodeipam.Service, changed <-chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
		}
		// Taken before applying, so a change made meanwhile is not missed.
		changed = svc.VPCCIDRsChanged()
		if err := d.apply(ctx, svc); err != nil && ctx.Err() == nil {
			d.log.Error("applying the host state after a VPC CIDR change failed; the repair pass retries", "error", err)
		}
	}
}

func registerHostSetup(lc fx.Lifecycle, d *datapath, svc *nodeipam.Service, orph *orphans) {
	var (
		stop context.CancelFunc
		done = make(chan struct{})
	)
	lc.Append(fx.Hook{OnStart: func(ctx context.Context) error {
		// Addresses of pods deleted while ipamd was down go back to the
		// pool before the first pod is served and before their rules would
		// be repaired. The gRPC server answers "initialising" until the
		// loops mark the node ready, so no ADD of this process is in
		// flight; minAge still protects an ADD the previous process
		// answered just before it stopped (its plugin may be creating the
		// veth now). AssignedAt counts from the assignment, not from the
		// pod's deletion, so nearly every orphan is older than that.
		if _, err := orph.pass(ctx); err != nil {
			d.log.Error("releasing addresses of gone pods at start failed; the periodic pass retries", "error", err)
		}
		changed := svc.VPCCIDRsChanged()
		if err := d.apply(ctx, svc); err != nil {
			return fmt.Errorf("set up node datapath: %w", err)
		}
		var wctx context.Context
		wctx, stop = context.WithCancel(context.Background())
		go func() { defer close(done); d.applyOnVPCChange(wctx, svc, changed) }()
		d.log.Info("node datapath ready", "firewall", d.fw.Name(), "secondary_enis", len(secondaryENIs(svc)),
			"enis_not_set_up", len(svc.DatapathPending()))
		return nil
	}, OnStop: func(context.Context) error {
		if stop != nil {
			stop()
			<-done
		}
		return nil
	}})
}
