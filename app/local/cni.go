package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/invoke"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// Netconf values every node uses (the upstream defaults).
const (
	NetworkName = "aws-cni"
	PluginType  = "aws-cni"
	VethPrefix  = "eni"
	PodMTU      = 9001
	// CNIVersion is what the upstream conflist on a node declares.
	CNIVersion = "0.4.0"
	// PodNamespace is the Kubernetes namespace of every pod.
	PodNamespace = "default"
)

// Conflist returns the network configuration list a node's container
// runtime would load: one aws-cni plugin pointed at the node's ipamd
// socket, logging to logFile.
func Conflist(socket, logFile string) ([]byte, error) {
	plugin := map[string]any{
		"name":               NetworkName,
		"type":               PluginType,
		"vethPrefix":         VethPrefix,
		"mtu":                strconv.Itoa(PodMTU),
		"podSGEnforcingMode": "strict",
		"pluginLogFile":      logFile,
		"pluginLogLevel":     "Debug",
		"ipamdSocket":        socket,
	}
	return json.MarshalIndent(map[string]any{
		"cniVersion":   CNIVersion,
		"name":         NetworkName,
		"disableCheck": false,
		"plugins":      []any{plugin},
	}, "", "  ")
}

// Pod is one pod sandbox added through the CNI.
type Pod struct {
	Node        *Node
	Name        string
	Namespace   string
	ContainerID string
	UID         string
	IfName      string
	// Netns is the sandbox's network namespace path.
	Netns string

	// Filled by ADD.
	IP       netip.Addr
	HostVeth string
	// RouteTable is the node table for traffic from the pod (254 for the
	// primary ENI), read from the result.
	RouteTable int
	ENI        core.ENIID
	Device     int

	AddLatency time.Duration
	// AddExec is the part of AddLatency spent executing the plugin (from
	// starting the process to collecting its output and exit status); the
	// rest is libcni's own work around it: building the plugin's config,
	// parsing the result and writing its result cache.
	AddExec    time.Duration
	DelLatency time.Duration
	deleted    bool

	// closeServer stops the pod's probe server (kernel mode).
	closeServer func()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// runtimeConf is what containerd passes for a pod sandbox.
func (p *Pod) runtimeConf() *libcni.RuntimeConf {
	return &libcni.RuntimeConf{
		ContainerID: p.ContainerID,
		NetNS:       p.Netns,
		IfName:      p.IfName,
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", p.Namespace},
			{"K8S_POD_NAME", p.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", p.ContainerID},
			{"K8S_POD_UID", p.UID},
		},
	}
}

// cniDriver calls the plugin through libcni for one node.
type cniDriver struct {
	cni  *libcni.CNIConfig
	list *libcni.NetworkConfigList
}

func newCNIDriver(binDir, cacheDir string, exec invoke.Exec, conflist []byte) (*cniDriver, error) {
	list, err := libcni.NetworkConfFromBytes(conflist)
	if err != nil {
		return nil, fmt.Errorf("parse conflist: %w", err)
	}
	return &cniDriver{cni: libcni.NewCNIConfigWithCacheDir([]string{binDir}, cacheDir, exec), list: list}, nil
}

func (d *cniDriver) add(ctx context.Context, p *Pod) (types.Result, error) {
	return d.cni.AddNetworkList(withExecTimer(ctx, &p.AddExec), d.list, p.runtimeConf())
}

// execTimerKey carries, in the context of a libcni call, where the
// executor adds the time it spends executing plugins.
type execTimerKey struct{}

func withExecTimer(ctx context.Context, total *time.Duration) context.Context {
	*total = 0
	return context.WithValue(ctx, execTimerKey{}, total)
}

// timeExec runs one plugin execution, adding its duration to the call's
// timer if it has one.
func timeExec(ctx context.Context, run func()) {
	start := time.Now()
	run()
	if total, ok := ctx.Value(execTimerKey{}).(*time.Duration); ok {
		*total += time.Since(start)
	}
}

func (d *cniDriver) check(ctx context.Context, p *Pod) error {
	return d.cni.CheckNetworkList(ctx, d.list, p.runtimeConf())
}

func (d *cniDriver) del(ctx context.Context, p *Pod) error {
	return d.cni.DelNetworkList(ctx, d.list, p.runtimeConf())
}

// readResult fills the pod's address, host veth and route table from the
// plugin's result: the host veth is the interface without a sandbox, the
// container interface carries the route table as its "mac" (upstream's
// layout).
func (p *Pod) readResult(res types.Result) error {
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return fmt.Errorf("read CNI result: %w", err)
	}
	if len(r.IPs) == 0 {
		return fmt.Errorf("read CNI result: no address")
	}
	a, ok := netip.AddrFromSlice(r.IPs[0].Address.IP)
	if !ok {
		return fmt.Errorf("read CNI result: bad address %v", r.IPs[0].Address.IP)
	}
	p.IP = a.Unmap()
	p.RouteTable = 254
	for _, i := range r.Interfaces {
		switch {
		case i.Sandbox == "" && p.HostVeth == "":
			p.HostVeth = i.Name
		case i.Sandbox == p.Netns && i.Name == p.IfName:
			if t, err := strconv.Atoi(i.Mac); err == nil {
				p.RouteTable = t
			}
		}
	}
	return nil
}

// podSpecOf is the datapath's view of a wired pod.
func podSpecOf(p *Pod) ports.PodSpec {
	return ports.PodSpec{
		ContainerID: p.ContainerID, Netns: p.Netns, IfName: p.IfName, HostVeth: p.HostVeth,
		Addr: p.IP, MTU: PodMTU, RouteTable: p.RouteTable,
	}
}
