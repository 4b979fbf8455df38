package rpcserver

import (
	"context"
	"errors"
	"net/netip"
	"sort"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/vpc-cni/vpc-cni/adapters/rpc/pb"
	"github.com/vpc-cni/vpc-cni/adapters/rpc/rpcgrpc"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/ports"
)

// checkVersion implements the version handshake (see the package doc).
func (s *Server) checkVersion(method, client string) error {
	if client == "" {
		s.warnEmptyVersion.Do(func() {
			s.log.Warn("CNI plugin sent no version; accepting it as an upstream-compatible plugin",
				"method", method, "server_version", s.cfg.Version)
		})
		return nil
	}
	if client != s.cfg.Version {
		s.log.Error("CNI plugin version does not match the agent", "method", method,
			"client_version", client, "server_version", s.cfg.Version)
		return status.Errorf(codes.FailedPrecondition,
			"CNI plugin version %q does not match ipamd version %q: install the plugin that ships with this agent", client, s.cfg.Version)
	}
	return nil
}

// notReady is the error for requests that arrive before the node is
// initialised; the runtime retries the ADD.
func (s *Server) notReady() error {
	return status.Error(codes.Unavailable, "ipamd is still initialising the node; retry shortly")
}

type cniBackend struct {
	rpcgrpc.UnimplementedCNIBackendServer
	s *Server
}

func podKey(network, containerID, infraID, ifName string) core.PodKey {
	if containerID == "" {
		containerID = infraID
	}
	return core.PodKey{NetworkName: network, ContainerID: containerID, IfName: ifName}
}

func (b *cniBackend) AddNetwork(ctx context.Context, in *pb.AddNetworkRequest) (*pb.AddNetworkReply, error) {
	s := b.s
	if err := s.checkVersion("AddNetwork", in.GetClientVersion()); err != nil {
		return nil, err
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.AddRequest()
	}
	key := podKey(in.GetNetworkName(), in.GetContainerID(), in.GetK8S_POD_INFRA_CONTAINER_ID(), in.GetIfName())
	pod := core.PodRef{Namespace: in.GetK8S_POD_NAMESPACE(), Name: in.GetK8S_POD_NAME()}
	if key.ContainerID == "" {
		return nil, status.Error(codes.InvalidArgument, "AddNetwork: the request has no container ID")
	}
	if !s.ipam.Ready() {
		return nil, s.notReady()
	}
	defer s.Refresh()
	addr, err := s.ipam.AssignPod(ctx, ports.AssignRequest{Key: key, Pod: pod, Netns: in.GetNetns()})
	if err != nil {
		if errors.Is(err, core.ErrNoAvailableAddress) || errors.Is(err, core.ErrMaxPods) {
			if s.cfg.Observer != nil {
				s.cfg.Observer.NoAddress()
			}
			s.log.Warn("no address for pod", "pod", pod.String(), "container", key.ContainerID, "ifname", key.IfName, "reason", err.Error())
			return &pb.AddNetworkReply{Success: false, NetworkPolicyMode: s.cfg.NetworkPolicyMode}, nil
		}
		s.log.Error("assign address failed", "pod", pod.String(), "container", key.ContainerID, "error", err)
		return nil, status.Errorf(codeOf(err), "assign address to %s: %v", pod, err)
	}
	s.log.Info("assigned address", "pod", pod.String(), "container", key.ContainerID, "ifname", key.IfName,
		"ip", addr.Addr.String(), "eni", string(addr.ENI), "device", addr.DeviceNumber, "table", addr.RouteTable)
	reply := &pb.AddNetworkReply{
		Success:              true,
		IPAllocationMetadata: []*pb.IPAllocationMetadata{metadata(addr)},
		UseExternalSNAT:      s.cfg.ExternalSNAT,
		NetworkPolicyMode:    s.cfg.NetworkPolicyMode,
	}
	for _, p := range s.ipam.VPCCIDRs() {
		if p.Addr().Is4() {
			reply.VPCv4CIDRs = append(reply.VPCv4CIDRs, p.String())
		} else {
			reply.VPCv6CIDRs = append(reply.VPCv6CIDRs, p.String())
		}
	}
	if !s.cfg.ExternalSNAT {
		for _, p := range s.cfg.ExcludeSNATCIDRs {
			reply.VPCv4CIDRs = append(reply.VPCv4CIDRs, p.String())
		}
	}
	return reply, nil
}

func (b *cniBackend) DelNetwork(ctx context.Context, in *pb.DelNetworkRequest) (*pb.DelNetworkReply, error) {
	s := b.s
	if err := s.checkVersion("DelNetwork", in.GetClientVersion()); err != nil {
		return nil, err
	}
	if s.cfg.Observer != nil {
		s.cfg.Observer.DelRequest(in.GetReason())
	}
	key := podKey(in.GetNetworkName(), in.GetContainerID(), in.GetK8S_POD_INFRA_CONTAINER_ID(), in.GetIfName())
	pod := core.PodRef{Namespace: in.GetK8S_POD_NAMESPACE(), Name: in.GetK8S_POD_NAME()}
	if key.ContainerID == "" {
		return nil, status.Error(codes.InvalidArgument, "DelNetwork: the request has no container ID")
	}
	if !s.ipam.Ready() {
		return nil, s.notReady()
	}
	defer s.Refresh()
	addr, err := s.ipam.ReleasePod(ctx, key)
	if errors.Is(err, core.ErrUnknownPod) {
		s.log.Info("release: pod holds no address", "pod", pod.String(), "container", key.ContainerID, "ifname", key.IfName)
		return &pb.DelNetworkReply{Success: true, NetworkPolicyMode: s.cfg.NetworkPolicyMode}, nil
	}
	if err != nil {
		s.log.Error("release address failed", "pod", pod.String(), "container", key.ContainerID, "error", err)
		return nil, status.Errorf(codeOf(err), "release address of %s: %v", pod, err)
	}
	s.log.Info("released address", "pod", pod.String(), "container", key.ContainerID, "ifname", key.IfName,
		"ip", addr.Addr.String(), "reason", in.GetReason())
	return &pb.DelNetworkReply{
		Success:              true,
		IPAllocationMetadata: []*pb.IPAllocationMetadata{metadata(addr)},
		NetworkPolicyMode:    s.cfg.NetworkPolicyMode,
	}, nil
}

func metadata(a ports.PodAddress) *pb.IPAllocationMetadata {
	m := &pb.IPAllocationMetadata{DeviceNumber: int32(a.DeviceNumber), RouteTableId: int32(a.RouteTable)}
	setAddr(a.Addr, &m.IPv4Addr, &m.IPv6Addr)
	return m
}

func setAddr(a netip.Addr, v4, v6 *string) {
	switch {
	case a.Is4():
		*v4 = a.String()
	case a.Is6():
		*v6 = a.String()
	}
}

// codeOf maps domain errors to gRPC codes.
func codeOf(err error) codes.Code {
	switch {
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, core.ErrInvalidParameter):
		return codes.InvalidArgument
	case errors.Is(err, core.ErrUnknownPod):
		return codes.NotFound
	default:
		return codes.Internal
	}
}

type ipamAdmin struct {
	rpcgrpc.UnimplementedIPAMAdminServer
	s *Server
}

func (a *ipamAdmin) ListAllocations(_ context.Context, in *pb.ListAllocationsRequest) (*pb.ListAllocationsReply, error) {
	s := a.s
	if err := s.checkVersion("ListAllocations", in.GetClientVersion()); err != nil {
		return nil, err
	}
	if !s.ipam.Ready() {
		return nil, s.notReady()
	}
	allocs := s.ipam.Allocations(in.GetNetworkName())
	sort.Slice(allocs, func(i, j int) bool { return allocs[i].Addr.Less(allocs[j].Addr) })
	reply := &pb.ListAllocationsReply{Allocations: make([]*pb.Allocation, 0, len(allocs))}
	for _, al := range allocs {
		out := &pb.Allocation{
			ContainerID:       al.Key.ContainerID,
			IfName:            al.Key.IfName,
			NetworkName:       al.Key.NetworkName,
			K8S_POD_NAME:      al.Pod.Name,
			K8S_POD_NAMESPACE: al.Pod.Namespace,
		}
		setAddr(al.Addr, &out.IPv4Addr, &out.IPv6Addr)
		reply.Allocations = append(reply.Allocations, out)
	}
	return reply, nil
}

type configServer struct {
	rpcgrpc.UnimplementedConfigServerBackendServer
	s *Server
}

func (c *configServer) GetNetworkPolicyConfigs(context.Context, *pb.Empty) (*pb.NetworkPolicyAgentConfigReply, error) {
	n := c.s.cfg.NodeInfo()
	r := &pb.NetworkPolicyAgentConfigReply{
		NetworkPolicyMode: c.s.cfg.NetworkPolicyMode,
		MultiNICEnabled:   n.MultiNICEnabled,
		InstanceID:        string(n.InstanceID),
		Region:            n.Region,
	}
	if n.IPv4.IsValid() {
		r.NodeIPv4 = n.IPv4.String()
	}
	if n.IPv6.IsValid() {
		r.NodeIPv6 = n.IPv6.String()
	}
	return r, nil
}
