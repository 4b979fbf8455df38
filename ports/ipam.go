package ports

import (
	"context"
	"net/netip"

	"github.com/vpc-cni/vpc-cni/core"
)

// AssignRequest is one CNI ADD as the daemon's driving side (the gRPC
// server the plugin calls) hands it to the node's address management.
type AssignRequest struct {
	Key core.PodKey
	Pod core.PodRef
	// Netns is the pod's network namespace path, as the runtime passed it.
	Netns string
}

// PodAddress is the address a pod interface holds and where it lives.
type PodAddress struct {
	Addr         netip.Addr
	ENI          core.ENIID
	DeviceNumber int
	NetworkCard  int
	// RouteTable is the host table of the ENI (core.RouteTableFor).
	RouteTable int
}

// PodIPAM is the driving port the gRPC server calls: address management as
// a CNI plugin needs it, in domain types.
type PodIPAM interface {
	// AssignPod returns the pod's address, giving it one when it has none
	// (a retried ADD gets the same address). It fails with
	// core.ErrNoAvailableAddress or core.ErrMaxPods when none can be had.
	// The assignment is durable when it returns.
	AssignPod(ctx context.Context, req AssignRequest) (PodAddress, error)
	// ReleasePod frees the pod's address and returns what it was;
	// core.ErrUnknownPod when the key holds nothing.
	ReleasePod(ctx context.Context, key core.PodKey) (PodAddress, error)
	// Allocations lists the current allocations of one network (every
	// network when networkName is empty).
	Allocations(networkName string) []core.Allocation
	// VPCCIDRs lists the VPC's CIDRs of both families.
	VPCCIDRs() []netip.Prefix
	// Ready reports whether the node finished initialising and may serve
	// pods.
	Ready() bool
	// CanServe is false while the node holds no pod address at all (none
	// yet, or none to be had). A node whose addresses are all taken is
	// full, not unready: true.
	CanServe() bool
}

// CNIRequestObserver is told about the requests the gRPC server handles,
// so metrics can count them. Methods may be called concurrently.
type CNIRequestObserver interface {
	// AddRequest counts one ADD; NoAddress one that found no address.
	AddRequest()
	NoAddress()
	// DelRequest counts one DEL, by the plugin's reason.
	DelRequest(reason string)
}
