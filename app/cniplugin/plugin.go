package cniplugin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	cniversion "github.com/containernetworking/cni/pkg/version"

	"github.com/vpc-cni/vpc-cni/adapters/lazyctx"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient"
	"github.com/vpc-cni/vpc-cni/app/version"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Reasons sent with DelNetwork, for ipamd's log.
const (
	ReasonPodDeleted    = "PodDeleted"
	ReasonSetupFailed   = "SetupNSFailed"
	ReasonGC            = "GC"
	ReasonUnsupportedVL = "BranchENIUnsupported"
	ReasonUnsupportedV6 = "IPv6Unsupported"
)

// AddressesHealthService is the grpc.health.v1 service name under which
// ipamd says whether a new pod could get an address now.
const AddressesHealthService = "vpc-cni.addresses"

// SupportedVersions are the CNI spec versions the plugin speaks. Results
// are built as 1.0.0 and converted to the version the netconf asks for;
// GC and STATUS need 1.1.0.
var SupportedVersions = []string{"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}

// VersionInfo is the plugin's answer to CNI_COMMAND=VERSION.
func VersionInfo() cniversion.PluginInfo {
	return cniversion.PluginSupports(SupportedVersions...)
}

// About is printed on stderr when the binary runs without CNI_COMMAND.
func About() string {
	return "aws-cni (vpc-cni) " + version.Get() + ": Amazon VPC pod networking CNI plugin"
}

// Config tunes the plugin; the zero value is the production setting.
type Config struct {
	// SocketPath is ipamd's socket when the netconf names none
	// (rpcclient.DefaultSocketPath when empty).
	SocketPath string
	// DialTimeout bounds connecting to ipamd (2 s when zero).
	DialTimeout time.Duration
	// CallTimeout bounds each ipamd call (10 s when zero).
	CallTimeout time.Duration
	// Timeout bounds a whole command (2 min when zero).
	Timeout time.Duration
	// ClientVersion is sent to ipamd (version.Get() when empty).
	ClientVersion string
	// Stdout receives the CNI result (os.Stdout when nil); Stderr gets
	// logs when the netconf says "stderr" or the log file cannot be
	// opened (os.Stderr when nil).
	Stdout io.Writer
	Stderr io.Writer
}

// Plugin is the aws-cni plugin: the CNI commands, with ipamd reached over
// gRPC and the pod datapath behind ports.PodNetwork.
type Plugin struct {
	cfg  Config
	open Opener
}

// Opener opens the pod datapath for one command. log is the command's
// logger (the plugin log). The returned func releases the datapath at the
// end of the command.
type Opener func(log *slog.Logger) (ports.PodNetwork, func(), error)

// New returns the plugin wiring pods through pods.
func New(cfg Config, pods ports.PodNetwork) (*Plugin, error) {
	if pods == nil {
		return nil, errors.New("create CNI plugin: no pod datapath")
	}
	return NewWithOpener(cfg, func(*slog.Logger) (ports.PodNetwork, func(), error) {
		return pods, func() {}, nil
	})
}

// NewWithOpener returns the plugin opening its datapath only when a
// command needs it (VERSION, STATUS and GC never do, nor a DEL that finds
// nothing to undo).
func NewWithOpener(cfg Config, open Opener) (*Plugin, error) {
	if open == nil {
		return nil, errors.New("create CNI plugin: no pod datapath")
	}
	if cfg.SocketPath == "" {
		cfg.SocketPath = rpcclient.DefaultSocketPath
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Minute
	}
	if cfg.ClientVersion == "" {
		cfg.ClientVersion = version.Get()
	}
	if cfg.Stdout == nil {
		cfg.Stdout = os.Stdout
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	return &Plugin{cfg: cfg, open: open}, nil
}

// Funcs is the command table for skel.PluginMainFuncs.
func (p *Plugin) Funcs() skel.CNIFuncs {
	return skel.CNIFuncs{Add: p.Add, Del: p.Del, Check: p.Check, GC: p.GC, Status: p.Status}
}

// invocation is one command's parsed input, logger and deadline.
type invocation struct {
	p        *Plugin
	args     *skel.CmdArgs
	s        *settings
	k8s      k8sArgs
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	closeLog func()
	quiet    bool

	pods      ports.PodNetwork
	closePods func()
}

// podNet opens the datapath on first use.
func (inv *invocation) podNet() (ports.PodNetwork, error) {
	if inv.pods != nil {
		return inv.pods, nil
	}
	pods, closePods, err := inv.p.open(inv.log)
	if err != nil {
		return nil, fmt.Errorf("open pod datapath: %w", err)
	}
	inv.pods, inv.closePods = pods, closePods
	return pods, nil
}

func (inv *invocation) teardownPod(spec ports.PodSpec) error {
	pods, err := inv.podNet()
	if err != nil {
		return err
	}
	return pods.TeardownPod(inv.ctx, spec)
}

func (inv *invocation) checkPod(spec ports.PodSpec) error {
	pods, err := inv.podNet()
	if err != nil {
		return err
	}
	return pods.CheckPod(inv.ctx, spec)
}

// begin parses the netconf and CNI_ARGS and opens the log. Lenient (DEL)
// tolerates bad values, falling back to defaults, so a pod stays deletable.
// A log file that cannot be opened fails no command: the log goes to
// stderr and says why.
func (p *Plugin) begin(cmd string, args *skel.CmdArgs, lenient bool) (*invocation, error) {
	s, err := parseNetConf(args.StdinData, lenient)
	if err != nil {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, err.Error(), "")
	}
	k, err := parseCNIArgs(args.Args, lenient)
	if err != nil {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, err.Error(), "")
	}
	log, closeLog, err := openLog(s.logFile, s.logLevel, p.cfg.Stderr)
	if err != nil {
		// Failing here would fail every ADD on the node, and a failed
		// STATUS has the runtime report the node's network not ready,
		// all for want of a log.
		s.notes = append(s.notes, fmt.Sprintf("pluginLogFile %q: %v; logging to stderr", s.logFile, err))
		log, closeLog, _ = openLog("stderr", s.logLevel, p.cfg.Stderr)
	}
	log = log.With("command", cmd, "containerID", args.ContainerID, "ifName", args.IfName,
		"pod", k.PodNamespace+"/"+k.PodName, "network", s.conf.Name)
	for _, n := range s.notes {
		log.Warn("network configuration problem tolerated", "problem", n)
	}
	// The command's deadline starts no timer until something waits on it
	// (the read of ipamd's reply): see adapters/lazyctx.
	ctx, cancel := lazyctx.WithTimeout(context.Background(), p.cfg.Timeout)
	// STATUS runs every few seconds on a busy node; it logs only failures.
	quiet := cmd == "STATUS"
	if !quiet {
		log.Debug("command started", "netns", args.Netns, "cniVersion", s.conf.CNIVersion, "pluginVersion", p.cfg.ClientVersion)
	}
	return &invocation{p: p, args: args, s: s, k8s: k, log: log, ctx: ctx, cancel: cancel, closeLog: closeLog, quiet: quiet}, nil
}

// end logs the outcome and releases the invocation's resources; it
// returns err unchanged.
func (inv *invocation) end(err error) error {
	if err != nil {
		inv.log.Error("command failed", "error", err.Error())
	} else if !inv.quiet {
		inv.log.Debug("command done")
	}
	if inv.closePods != nil {
		inv.closePods()
	}
	inv.cancel()
	inv.closeLog()
	return err
}

func (inv *invocation) podName() string {
	return inv.k8s.PodNamespace + "/" + inv.k8s.PodName
}

func (inv *invocation) key() rpcclient.PodKey {
	return rpcclient.PodKey{NetworkName: inv.s.conf.Name, ContainerID: inv.args.ContainerID, IfName: inv.args.IfName}
}

func (inv *invocation) rpcPod() rpcclient.Pod {
	return rpcclient.Pod{Name: inv.k8s.PodName, Namespace: inv.k8s.PodNamespace, InfraContainerID: inv.k8s.InfraContainerID, UID: inv.k8s.PodUID}
}

func (inv *invocation) socket() string {
	if inv.s.socket != "" {
		return inv.s.socket
	}
	return inv.p.cfg.SocketPath
}

func (inv *invocation) dial() (*rpcclient.Client, error) {
	return rpcclient.DialConfig(inv.ctx, rpcclient.Config{
		SocketPath:    inv.socket(),
		DialTimeout:   inv.p.cfg.DialTimeout,
		CallTimeout:   inv.p.cfg.CallTimeout,
		ClientVersion: inv.p.cfg.ClientVersion,
	})
}

// hostVeth is the pod's host-side veth name, from the pod's identity.
func (inv *invocation) hostVeth() string {
	if inv.k8s.PodName == "" || inv.k8s.PodNamespace == "" {
		return ""
	}
	return HostVethName(inv.s.vethPrefix, inv.k8s.PodNamespace, inv.k8s.PodName)
}

// Add gives the pod an address from ipamd, wires it, and prints the result.
func (p *Plugin) Add(args *skel.CmdArgs) error {
	inv, err := p.begin("ADD", args, false)
	if err != nil {
		return err
	}
	return inv.end(inv.add())
}

func (inv *invocation) add() error {
	if inv.k8s.PodName == "" || inv.k8s.PodNamespace == "" {
		return types.NewError(types.ErrInvalidEnvironmentVariables,
			fmt.Sprintf("CNI_ARGS %q lacks K8S_POD_NAME or K8S_POD_NAMESPACE: aws-cni wires Kubernetes pods only", inv.args.Args), "")
	}
	if v := inv.s.conf.RuntimeConfig.PodAnnotations[multiNICAnnotation]; v != "" {
		inv.log.Warn("pod asks for multi-NIC attachment; this plugin wires one interface", "annotation", multiNICAnnotation, "value", v)
	}
	spec := ports.PodSpec{
		ContainerID: inv.args.ContainerID,
		Netns:       inv.args.Netns,
		IfName:      inv.args.IfName,
		HostVeth:    inv.hostVeth(),
		MTU:         inv.s.mtu,
	}
	return inv.addWith(spec)
}

// preparation is the part of an ADD's wiring that does not depend on the
// address (opening the datapath, PreparePod). It runs while ipamd works on
// the AddNetwork request, on the same goroutine: the client sends the
// request, prepares, then reads the reply. (A second goroutine preparing
// meanwhile measured slower: on a node's busy cores its thread start and
// hand-offs cost more than the overlap gained.)
type preparation struct {
	ran bool  // prepare was called: a pair may exist
	err error // opening the datapath or PreparePod failed
}

func (inv *invocation) prepare(prep *preparation, spec ports.PodSpec) {
	prep.ran = true
	pods, err := inv.podNet()
	if err != nil {
		prep.err = err
		return
	}
	if _, err := pods.PreparePod(inv.ctx, spec); err != nil {
		prep.err = fmt.Errorf("prepare veth pair: %w", err)
	}
}

// undoPrepare removes what an ADD that is failing had wired: the prepared
// pair and, once spec has an address, anything of that address (a half
// SetupPod). It returns text completing the ADD's error message when the
// preparation had failed as well.
func (inv *invocation) undoPrepare(spec ports.PodSpec, prep *preparation) string {
	if !prep.ran {
		return ""
	}
	if inv.pods != nil {
		if err := inv.pods.TeardownPod(inv.ctx, spec); err != nil {
			inv.log.Warn("undo the pod's wiring failed", "hostVeth", spec.HostVeth, "error", err.Error())
		}
	}
	if prep.err != nil && !spec.Addr.IsValid() {
		inv.log.Warn("preparing the veth pair failed as well", "error", prep.err.Error())
		return fmt.Sprintf(" (preparing the veth pair failed as well: %v)", prep.err)
	}
	return ""
}

func (inv *invocation) addWith(spec ports.PodSpec) error {
	pod := inv.podName()
	c, err := inv.dial()
	if err != nil {
		// Nothing prepared yet: ipamd is asked first.
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("add pod %s: %v", pod, err), "")
	}
	closeConn := func() { _ = c.Close() }
	defer func() { closeConn() }()

	prep := &preparation{}
	reply, err := c.AddNetworkWhile(inv.ctx, rpcclient.AddRequest{Key: inv.key(), Pod: inv.rpcPod(), Netns: inv.args.Netns},
		func() { inv.prepare(prep, spec) })
	switch {
	case errors.Is(err, rpcclient.ErrVersionMismatch):
		return types.NewError(types.ErrInternal, fmt.Sprintf("add pod %s: plugin %s and ipamd are from different releases (install the aws-cni binary of the running aws-node): %v%s",
			pod, inv.p.cfg.ClientVersion, err, inv.undoPrepare(spec, prep)), "")
	case errors.Is(err, rpcclient.ErrUnavailable), errors.Is(err, core.ErrNoAvailableAddress):
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("add pod %s: %v%s", pod, err, inv.undoPrepare(spec, prep)), "")
	case err != nil:
		return types.NewError(types.ErrInternal, fmt.Sprintf("add pod %s: %v%s", pod, err, inv.undoPrepare(spec, prep)), "")
	case !reply.Success || len(reply.Allocations) == 0:
		return types.NewError(types.ErrTryAgainLater,
			fmt.Sprintf("add pod %s: ipamd has no address for it now (the node's pool is empty or at max pods; the aws-node log says which)%s", pod, inv.undoPrepare(spec, prep)), "")
	}
	alloc := reply.Allocations[0]
	if len(reply.Allocations) > 1 {
		inv.log.Warn("ipamd returned more than one address; wiring the first", "count", len(reply.Allocations))
	}
	if reply.VLAN != 0 {
		also := inv.undoPrepare(spec, prep)
		released := inv.release(c, ReasonUnsupportedVL)
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("add pod %s: ipamd assigned a branch ENI (VLAN %d, security groups for pods), which this plugin does not wire%s%s", pod, reply.VLAN, released, also), "")
	}
	if !alloc.Addr.Is4() {
		// An ipamd in IPv6 mode (upstream's, or ours misconfigured): the
		// pod would get the address without an IPv6 route or gateway.
		also := inv.undoPrepare(spec, prep)
		released := inv.release(c, ReasonUnsupportedV6)
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("add pod %s: ipamd assigned %s, an IPv6 address (ENABLE_IPv6=true); this plugin wires IPv4 pods only, IPv6 pod wiring is not built yet%s%s", pod, alloc.Addr, released, also), "")
	}
	spec.Addr = alloc.Addr
	spec.RouteTable = routeTableOf(alloc.RouteTable, alloc.DeviceNumber)
	hostVeth := spec.HostVeth
	inv.log.Info("address assigned", "addr", alloc.Addr.String(), "device", alloc.DeviceNumber, "table", spec.RouteTable, "hostVeth", hostVeth)
	if !prep.ran {
		// Only a transport that cannot overlap skips it (none the plugin
		// uses); prepare now rather than not at all.
		inv.prepare(prep, spec)
	}
	if prep.err != nil {
		// A failed preparation fails the ADD (SetupPod might well succeed,
		// but the error says what went wrong first, and the runtime
		// retries): the address goes back on this connection.
		inv.undoPrepare(spec, prep)
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("add pod %s: wire %s (%s) via %s: %v%s", pod, alloc.Addr, inv.args.IfName, hostVeth, prep.err, inv.release(c, ReasonSetupFailed)), "")
	}
	// ipamd has answered: the connection closes now, so that ipamd's side
	// of it is torn down while the pod is wired. A failed wiring dials
	// again to give the address back.
	closeConn()
	closeConn = func() {}
	res, err := inv.pods.SetupPod(inv.ctx, spec)
	if err != nil {
		return types.NewError(types.ErrInternal,
			fmt.Sprintf("add pod %s: wire %s (%s) via %s: %v%s", pod, alloc.Addr, inv.args.IfName, hostVeth, err, inv.unwire(spec, prep)), "")
	}
	if reply.NetworkPolicyMode != "" {
		inv.log.Info("ipamd reports a network policy mode; enforcement is left to the policy agent", "mode", reply.NetworkPolicyMode)
	}
	if res.HostVeth != "" {
		hostVeth = res.HostVeth
	}
	if err := inv.printResult(wired{
		hostVeth: hostVeth, hostMAC: res.HostMAC, ifName: inv.args.IfName, netns: inv.args.Netns,
		addr: alloc.Addr, deviceNumber: alloc.DeviceNumber, routeTable: spec.RouteTable, vlan: reply.VLAN,
		dummy: dummyName(inv.k8s.PodNamespace, inv.k8s.PodName),
	}); err != nil {
		// The ADD fails, and a failed ADD leaves nothing behind (a runtime
		// need not DEL after it): undo the wiring and give the address
		// back as for a failed SetupPod.
		released := inv.unwire(spec, prep)
		var te *types.Error
		if errors.As(err, &te) {
			te.Msg += released
		}
		return err
	}
	inv.log.Info("pod wired", "addr", alloc.Addr.String(), "hostVeth", hostVeth, "mtu", spec.MTU)
	return nil
}

// printResult writes the ADD's result in the netconf's CNI version:
// encoded directly when resultJSON knows the layout, else converted and
// printed by the library.
func (inv *invocation) printResult(w wired) error {
	version := inv.s.conf.CNIVersion
	if out, ok := resultJSON(w, version); ok {
		if _, err := inv.p.cfg.Stdout.Write(out); err != nil {
			return types.NewError(types.ErrIOFailure, fmt.Sprintf("add pod %s: print result: %v", inv.podName(), err), "")
		}
		return nil
	}
	out, err := buildResult(w).GetAsVersion(version)
	if err != nil {
		return types.NewError(types.ErrIncompatibleCNIVersion, fmt.Sprintf("add pod %s: convert result to CNI %s: %v", inv.podName(), version, err), "")
	}
	if err := out.PrintTo(inv.p.cfg.Stdout); err != nil {
		return types.NewError(types.ErrIOFailure, fmt.Sprintf("add pod %s: print result: %v", inv.podName(), err), "")
	}
	return nil
}

// unwire undoes an ADD that fails after the pod was wired and ipamd's
// connection closed: the wiring is removed and the address given back over
// a new connection. The returned text completes the error message.
func (inv *invocation) unwire(spec ports.PodSpec, prep *preparation) string {
	inv.undoPrepare(spec, prep)
	return inv.releaseAgain(ReasonSetupFailed)
}

// release gives the address back after a failed ADD; the returned text
// completes the error message.
func (inv *invocation) release(c *rpcclient.Client, reason string) string {
	_, err := c.DelNetwork(inv.ctx, rpcclient.DelRequest{Key: inv.key(), Pod: inv.rpcPod(), Reason: reason})
	if err != nil {
		inv.log.Error("release address after failed ADD", "error", err.Error())
		return fmt.Sprintf(" (releasing the address failed too: %v; ipamd reclaims it later)", err)
	}
	return " (address released)"
}

// releaseAgain is release over a new connection.
func (inv *invocation) releaseAgain(reason string) string {
	c, err := inv.dial()
	if err != nil {
		inv.log.Error("release address after failed ADD", "error", err.Error())
		return fmt.Sprintf(" (releasing the address failed too: %v; ipamd reclaims it later)", err)
	}
	defer c.Close()
	return inv.release(c, reason)
}

// Del undoes an ADD. It succeeds for anything already gone, and when ipamd
// cannot be asked it tears down what the prevResult records and still
// succeeds: ipamd takes the address back on its own later (CNI GC, or its
// check of running pods).
func (p *Plugin) Del(args *skel.CmdArgs) error {
	inv, err := p.begin("DEL", args, true)
	if err != nil {
		return err
	}
	return inv.end(inv.del())
}

func (inv *invocation) del() error {
	prev, havePrev, err := parsePrevResult(&inv.s.conf.PluginConf, inv.args.IfName, inv.s.vethPrefix)
	if err != nil {
		inv.log.Warn("ignoring unreadable prevResult", "error", err.Error())
		havePrev = false
	}
	hostVeth := prev.hostVeth
	if hostVeth == "" {
		hostVeth = inv.hostVeth()
	}
	branch := havePrev && prev.vlan != 0
	if branch {
		inv.log.Warn("prevResult describes a branch ENI pod, which this plugin does not wire; asking ipamd only", "vlan", prev.vlan)
		havePrev = false
	}

	c, err := inv.dial()
	var reply rpcclient.DelReply
	if err == nil {
		defer c.Close()
		reply, err = c.DelNetwork(inv.ctx, rpcclient.DelRequest{Key: inv.key(), Pod: inv.rpcPod(), Reason: ReasonPodDeleted})
	}
	switch {
	case errors.Is(err, core.ErrUnknownPod) || (err == nil && reply.Success && len(reply.Allocations) == 0):
		if branch {
			inv.log.Info("ipamd holds no address for this container; nothing to do")
			return nil
		}
		return inv.delUnknown(c, prev, havePrev, hostVeth)
	case err == nil && reply.Success:
		a := reply.Allocations[0]
		spec := ports.PodSpec{
			ContainerID: inv.args.ContainerID, Netns: inv.args.Netns, IfName: inv.args.IfName,
			HostVeth: hostVeth, Addr: a.Addr, RouteTable: routeTableOf(a.RouteTable, a.DeviceNumber),
		}
		if err := inv.teardownPod(spec); err != nil {
			return types.NewError(types.ErrInternal, fmt.Sprintf("delete pod %s: unwire %s via %s: %v", inv.podName(), a.Addr, hostVeth, err), "")
		}
		inv.log.Info("pod unwired, address released", "addr", a.Addr.String(), "hostVeth", hostVeth)
		return nil
	}
	if err == nil {
		err = errors.New("ipamd answered Success=false")
	}
	inv.log.Warn("ipamd could not release the address; tearing down from prevResult, ipamd reclaims the address later", "error", err.Error(), "havePrevResult", havePrev)
	if !havePrev {
		return nil
	}
	spec := inv.delSpec(hostVeth)
	spec.Addr, spec.RouteTable = prev.addr, prevTable(prev)
	if err := inv.teardownPod(spec); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("delete pod %s without ipamd: unwire %s via %s: %v", inv.podName(), prev.addr, hostVeth, err), "")
	}
	inv.log.Info("pod unwired from prevResult", "addr", prev.addr.String(), "hostVeth", hostVeth)
	return nil
}

// delSpec is the pod as a DEL knows it before any address: this
// container's interface and the host veth.
func (inv *invocation) delSpec(hostVeth string) ports.PodSpec {
	return ports.PodSpec{ContainerID: inv.args.ContainerID, Netns: inv.args.Netns, IfName: inv.args.IfName, HostVeth: hostVeth}
}

// prevTable is the route table the prevResult names, main when it names
// none.
func prevTable(prev prevState) int {
	if prev.routeTable == 0 {
		return mainTable
	}
	return prev.routeTable
}

// delUnknown finishes a DEL for which ipamd holds no address: the pod was
// never added, was deleted already, or this is the retry of a DEL that
// released the address but then failed to unwire the pod. For the last,
// what is left of the wiring is removed here. TeardownPod deletes a host
// veth only when it is the peer of the interface in this pod's namespace,
// so a veth of the same name that belongs to a new pod stays. Rules are
// found by address, which may be another pod's by now: they are removed
// only when the pod's namespace still exists (the runtime removes it once
// a DEL succeeds, so an earlier DEL did not) and ipamd does not list the
// address as another container's. Without the namespace, the veth went
// with it and there is nothing to do.
func (inv *invocation) delUnknown(c *rpcclient.Client, prev prevState, havePrev bool, hostVeth string) error {
	if inv.args.Netns == "" || !pathExists(inv.args.Netns) {
		inv.log.Info("ipamd holds no address for this container and its namespace is gone; nothing to do")
		return nil
	}
	spec := inv.delSpec(hostVeth)
	if havePrev && !inv.heldByOther(c, prev.addr) {
		spec.Addr, spec.RouteTable = prev.addr, prevTable(prev)
	}
	if err := inv.teardownPod(spec); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("delete pod %s (address already released): unwire %s via %s: %v", inv.podName(), spec.Addr, hostVeth, err), "")
	}
	inv.log.Info("ipamd holds no address for this container; removed what was left of its wiring", "addr", spec.Addr.String(), "hostVeth", hostVeth)
	return nil
}

// heldByOther reports whether ipamd lists addr as held by a container
// other than this one. An ipamd that cannot list (an upstream one) is
// taken to know of none.
func (inv *invocation) heldByOther(c *rpcclient.Client, addr netip.Addr) bool {
	allocs, err := c.ListAllocations(inv.ctx, "")
	if err != nil {
		inv.log.Debug("cannot list ipamd's allocations; taking the prevResult address as free", "error", err.Error())
		return false
	}
	key := inv.key()
	for _, a := range allocs {
		if (a.IPv4 == addr || a.IPv6 == addr) && (a.Key.ContainerID != key.ContainerID || a.Key.IfName != key.IfName) {
			inv.log.Info("the prevResult address is another container's now; leaving its rules", "addr", addr.String(), "holder", a.Key.ContainerID)
			return true
		}
	}
	return false
}

// pathExists reports whether path may exist: only "does not exist" says
// no.
func pathExists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// Check verifies the wiring the prevResult describes, and, when ipamd can
// tell, that ipamd still holds the address for this container.
func (p *Plugin) Check(args *skel.CmdArgs) error {
	inv, err := p.begin("CHECK", args, false)
	if err != nil {
		return err
	}
	return inv.end(inv.check())
}

func (inv *invocation) check() error {
	pod := inv.podName()
	prev, ok, err := parsePrevResult(&inv.s.conf.PluginConf, inv.args.IfName, inv.s.vethPrefix)
	if err != nil {
		return types.NewError(types.ErrDecodingFailure, fmt.Sprintf("check pod %s: %v", pod, err), "")
	}
	if !ok {
		return types.NewError(types.ErrInvalidNetworkConfig,
			fmt.Sprintf("check pod %s: prevResult records no address on %s", pod, inv.args.IfName), "")
	}
	hostVeth := prev.hostVeth
	if hostVeth == "" {
		hostVeth = inv.hostVeth()
	}
	table := prev.routeTable
	if table == 0 {
		table = mainTable
	}
	spec := ports.PodSpec{
		ContainerID: inv.args.ContainerID, Netns: inv.args.Netns, IfName: inv.args.IfName,
		HostVeth: hostVeth, Addr: prev.addr, MTU: inv.s.mtu, RouteTable: table,
	}
	if err := inv.checkPod(spec); err != nil {
		return types.NewError(types.ErrInternal, fmt.Sprintf("check pod %s (%s on %s, host %s): %v", pod, prev.addr, inv.args.IfName, hostVeth, err), "")
	}
	return inv.checkIPAM(prev)
}

// checkIPAM compares the prevResult's address with ipamd's allocations.
// An ipamd that cannot be reached or does not list allocations is not a
// failed check: the datapath is what the pod uses.
func (inv *invocation) checkIPAM(prev prevState) error {
	c, err := inv.dial()
	if err != nil {
		inv.log.Warn("ipamd unreachable; checked the datapath only", "error", err.Error())
		return nil
	}
	defer c.Close()
	allocs, err := c.ListAllocations(inv.ctx, inv.s.conf.Name)
	if err != nil {
		inv.log.Warn("cannot list ipamd's allocations; checked the datapath only", "error", err.Error())
		return nil
	}
	key := inv.key()
	for _, a := range allocs {
		if a.Key.ContainerID != key.ContainerID || a.Key.IfName != key.IfName {
			continue
		}
		if a.IPv4 == prev.addr || a.IPv6 == prev.addr {
			return nil
		}
		return types.NewError(types.ErrInternal, fmt.Sprintf("check pod %s: ipamd holds %s for container %s, the pod has %s",
			inv.podName(), firstValid(a.IPv4, a.IPv6), key.ContainerID, prev.addr), "")
	}
	return types.NewError(types.ErrInternal, fmt.Sprintf("check pod %s: ipamd holds no address for container %s %s (the pod has %s)",
		inv.podName(), key.ContainerID, key.IfName, prev.addr), "")
}

// Status reports whether an ADD could succeed now: ipamd must answer on
// its socket, be SERVING as a whole, and not report that no address can
// be had ("vpc-cni.addresses" NOT_SERVING; an upstream ipamd does not
// know that name, which counts as ready).
func (p *Plugin) Status(args *skel.CmdArgs) error {
	inv, err := p.begin("STATUS", args, false)
	if err != nil {
		return err
	}
	return inv.end(inv.status())
}

func (inv *invocation) status() error {
	notReady := func(format string, a ...any) error {
		return types.NewError(types.ErrPluginNotAvailable, fmt.Sprintf(format, a...), "")
	}
	c, err := inv.dial()
	if err != nil {
		return notReady("ipamd at %s is unreachable: %v", inv.socket(), err)
	}
	defer c.Close()
	st, err := c.Health(inv.ctx, "")
	if err != nil {
		return notReady("ipamd health check failed: %v", err)
	}
	if st != rpcclient.Serving {
		return notReady("ipamd reports %s (still initialising the node, or unhealthy)", st)
	}
	st, err = c.Health(inv.ctx, AddressesHealthService)
	if err != nil {
		return notReady("ipamd health check of %q failed: %v", AddressesHealthService, err)
	}
	if st == rpcclient.NotServing {
		return notReady("ipamd has no address for a new pod and cannot grow its pool (%s is %s)", AddressesHealthService, st)
	}
	return nil
}

// GC releases ipamd allocations of this network whose (container ID,
// interface) is not among the runtime's valid attachments. The datapath is
// left alone: the pod's network namespace, and with it the veth and its
// routes, is gone, and anything keyed by the address is rewritten when the
// address is handed out again.
func (p *Plugin) GC(args *skel.CmdArgs) error {
	inv, err := p.begin("GC", args, false)
	if err != nil {
		return err
	}
	return inv.end(inv.gc())
}

func (inv *invocation) gc() error {
	if !inv.s.hasValidAttachments {
		inv.log.Warn("GC request without cni.dev/valid-attachments; releasing nothing")
		return nil
	}
	type att struct{ container, ifName string }
	valid := map[att]bool{}
	for _, a := range inv.s.conf.ValidAttachments {
		valid[att{a.ContainerID, a.IfName}] = true
	}
	c, err := inv.dial()
	if err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("garbage-collect network %s: %v", inv.s.conf.Name, err), "")
	}
	defer c.Close()
	allocs, err := c.ListAllocations(inv.ctx, inv.s.conf.Name)
	if errors.Is(err, rpcclient.ErrUnimplemented) {
		inv.log.Info("ipamd cannot list allocations (an upstream ipamd?); nothing to collect", "error", err.Error())
		return nil
	}
	if err != nil {
		return types.NewError(types.ErrTryAgainLater, fmt.Sprintf("garbage-collect network %s: %v", inv.s.conf.Name, err), "")
	}
	var errs []error
	released := 0
	for _, a := range allocs {
		if a.Key.NetworkName != "" && a.Key.NetworkName != inv.s.conf.Name {
			continue
		}
		if valid[att{a.Key.ContainerID, a.Key.IfName}] {
			continue
		}
		if a.Key.ContainerID == "" {
			inv.log.Warn("allocation without a container ID; cannot match it, leaving it", "addr", firstValid(a.IPv4, a.IPv6).String())
			continue
		}
		_, err := c.DelNetwork(inv.ctx, rpcclient.DelRequest{Key: a.Key, Pod: a.Pod, Reason: ReasonGC})
		if err != nil && !errors.Is(err, core.ErrUnknownPod) {
			errs = append(errs, fmt.Errorf("release %s of container %s: %w", firstValid(a.IPv4, a.IPv6), a.Key.ContainerID, err))
			continue
		}
		released++
		inv.log.Info("released stale allocation", "staleContainerID", a.Key.ContainerID, "staleIfName", a.Key.IfName,
			"stalePod", a.Pod.Namespace+"/"+a.Pod.Name, "addr", firstValid(a.IPv4, a.IPv6).String())
	}
	inv.log.Info("garbage collection done", "allocations", len(allocs), "released", released, "failed", len(errs))
	if len(errs) > 0 {
		return types.NewError(types.ErrInternal, fmt.Sprintf("garbage-collect network %s: %v", inv.s.conf.Name, errors.Join(errs...)), "")
	}
	return nil
}
