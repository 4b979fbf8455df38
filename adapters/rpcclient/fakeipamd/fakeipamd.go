package fakeipamd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/vpc-cni/vpc-cni/adapters/rpc/pb"
	"github.com/vpc-cni/vpc-cni/adapters/rpc/rpcgrpc"
	"github.com/vpc-cni/vpc-cni/adapters/rpcclient"
)

// AddressesService is the health service name that reports whether a new
// pod could get an address right now.
const AddressesService = "vpc-cni.addresses"

// Address is one address the fake can hand out, with the ENI it sits on.
type Address struct {
	Addr         netip.Addr
	DeviceNumber int
	// RouteTable is sent as RouteTableId; 0 sends nothing.
	RouteTable int
	// VLAN, when set, makes the address a branch ENI's (security groups
	// for pods): the reply carries PodVlanId and DeviceNumber -1.
	VLAN int
}

// Config describes the fake.
type Config struct {
	// SocketPath is where to listen (required). Keep it short: unix
	// socket paths are limited to 107 bytes.
	SocketPath string
	// Addresses is the pool, handed out in order.
	Addresses []Address
	// ServerVersion, when set, makes every call that carries a client
	// version refuse a different one with FailedPrecondition, as ipamd
	// does.
	ServerVersion string
	// WithoutAdmin leaves the IPAMAdmin service out, so ListAllocations
	// answers Unimplemented like an upstream ipamd.
	WithoutAdmin bool
	// WithoutAddressHealth leaves AddressesService unregistered, as on
	// an upstream ipamd (health checks of it answer NotFound).
	WithoutAddressHealth bool
	// UnknownPod is how DelNetwork answers a key that holds nothing.
	UnknownPod UnknownPodReply
}

// UnknownPodReply is one way an ipamd answers DelNetwork for a key it does
// not know.
type UnknownPodReply int

const (
	// UnknownPodEmptySuccess replies Success=true without an address, as
	// this project's ipamd (adapters/rpcserver) does.
	UnknownPodEmptySuccess UnknownPodReply = iota
	// UnknownPodNotFound fails with gRPC code NotFound.
	UnknownPodNotFound
	// UnknownPodUpstream fails as upstream's ipamd does: code Unknown,
	// message "datastore: unknown pod".
	UnknownPodUpstream
)

// Failure is an injected outcome for the next calls of one method. The
// zero value injects nothing.
type Failure struct {
	// NoSuccess answers Success=false without an error.
	NoSuccess bool
	// Code and Message answer with a gRPC status error when Code is not OK.
	Code    codes.Code
	Message string
}

func (f Failure) active() bool { return f.NoSuccess || f.Code != codes.OK }

// Request is one call the fake received.
type Request struct {
	Method        string
	ClientVersion string
	Key           rpcclient.PodKey
	Pod           rpcclient.Pod
	Netns         string
	Reason        string
}

type assignment struct {
	addr Address
	pod  rpcclient.Pod
}

// Server is a running fake ipamd.
type Server struct {
	cfg    Config
	srv    *grpc.Server
	health *health.Server
	lis    net.Listener

	mu        sync.Mutex
	assigned  map[rpcclient.PodKey]assignment
	requests  []Request
	addFail   Failure
	delFail   Failure
	healthSet map[string]bool // services whose status the test fixed
	stopped   bool
}

// New starts a fake ipamd on cfg.SocketPath. Close it when done.
func New(cfg Config) (*Server, error) {
	if cfg.SocketPath == "" {
		return nil, errors.New("start fake ipamd: no socket path")
	}
	_ = os.Remove(cfg.SocketPath)
	lis, err := net.Listen("unix", cfg.SocketPath)
	if err != nil {
		return nil, fmt.Errorf("start fake ipamd: listen on %s: %w", cfg.SocketPath, err)
	}
	s := &Server{
		cfg:       cfg,
		srv:       grpc.NewServer(),
		health:    health.NewServer(),
		lis:       lis,
		assigned:  map[rpcclient.PodKey]assignment{},
		healthSet: map[string]bool{},
	}
	rpcgrpc.RegisterCNIBackendServer(s.srv, cniBackend{s: s})
	if !cfg.WithoutAdmin {
		rpcgrpc.RegisterIPAMAdminServer(s.srv, ipamAdmin{s: s})
	}
	healthpb.RegisterHealthServer(s.srv, s.health)
	s.mu.Lock()
	s.updateAddressHealthLocked()
	s.mu.Unlock()
	go func() { _ = s.srv.Serve(lis) }()
	return s, nil
}

// Close stops the server (ipamd down) and removes its socket. It is safe
// to call more than once.
func (s *Server) Close() {
	s.mu.Lock()
	if s.stopped {
		s.mu.Unlock()
		return
	}
	s.stopped = true
	s.mu.Unlock()
	s.srv.Stop()
	_ = os.Remove(s.cfg.SocketPath)
}

// SocketPath is where the fake listens.
func (s *Server) SocketPath() string { return s.cfg.SocketPath }

// FailAdd injects an outcome for every following AddNetwork (zero clears).
func (s *Server) FailAdd(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addFail = f
}

// FailDel injects an outcome for every following DelNetwork (zero clears).
func (s *Server) FailDel(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delFail = f
}

// SetHealth fixes the serving status of a health service name ("" is the
// whole server). Without it, AddressesService follows the pool: SERVING
// while an address is free.
func (s *Server) SetHealth(service string, serving bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.healthSet[service] = true
	s.health.SetServingStatus(service, servingStatus(serving))
}

// Preassign records an allocation as if an ADD had happened, and returns
// the address. It fails when the pool is empty.
func (s *Server) Preassign(key rpcclient.PodKey, pod rpcclient.Pod) (netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.assignLocked(key, pod)
	if !ok {
		return netip.Addr{}, errors.New("preassign: no free address")
	}
	return a.Addr, nil
}

// Reclaim drops an allocation behind the plugin's back, as ipamd does when
// it finds a pod gone; it reports whether the key held one.
func (s *Server) Reclaim(key rpcclient.PodKey) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.assigned[key]
	delete(s.assigned, key)
	s.updateAddressHealthLocked()
	return ok
}

// Assigned returns the current allocations by key.
func (s *Server) Assigned() map[rpcclient.PodKey]netip.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[rpcclient.PodKey]netip.Addr, len(s.assigned))
	for k, a := range s.assigned {
		out[k] = a.addr.Addr
	}
	return out
}

// Requests returns every call received so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func servingStatus(ok bool) healthpb.HealthCheckResponse_ServingStatus {
	if ok {
		return healthpb.HealthCheckResponse_SERVING
	}
	return healthpb.HealthCheckResponse_NOT_SERVING
}

func (s *Server) checkVersionLocked(v string) error {
	if s.cfg.ServerVersion != "" && v != s.cfg.ServerVersion {
		return status.Errorf(codes.FailedPrecondition, "client version %q does not match server version %q", v, s.cfg.ServerVersion)
	}
	return nil
}

func (s *Server) assignLocked(key rpcclient.PodKey, pod rpcclient.Pod) (Address, bool) {
	if a, ok := s.assigned[key]; ok {
		return a.addr, true
	}
	used := map[netip.Addr]bool{}
	for _, a := range s.assigned {
		used[a.addr.Addr] = true
	}
	for _, a := range s.cfg.Addresses {
		if !used[a.Addr] {
			s.assigned[key] = assignment{addr: a, pod: pod}
			s.updateAddressHealthLocked()
			return a, true
		}
	}
	return Address{}, false
}

func (s *Server) updateAddressHealthLocked() {
	if s.healthSet[AddressesService] || s.cfg.WithoutAddressHealth {
		return
	}
	s.health.SetServingStatus(AddressesService, servingStatus(len(s.assigned) < len(s.cfg.Addresses)))
}

func metadata(a Address) *pb.IPAllocationMetadata {
	m := &pb.IPAllocationMetadata{DeviceNumber: int32(a.DeviceNumber), RouteTableId: int32(a.RouteTable)}
	if a.Addr.Is4() {
		m.IPv4Addr = a.Addr.String()
	} else {
		m.IPv6Addr = a.Addr.String()
	}
	return m
}

type cniBackend struct {
	rpcgrpc.UnimplementedCNIBackendServer
	s *Server
}

func (b cniBackend) AddNetwork(_ context.Context, r *pb.AddNetworkRequest) (*pb.AddNetworkReply, error) {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	key := rpcclient.PodKey{NetworkName: r.GetNetworkName(), ContainerID: r.GetContainerID(), IfName: r.GetIfName()}
	pod := rpcclient.Pod{Name: r.GetK8S_POD_NAME(), Namespace: r.GetK8S_POD_NAMESPACE(), InfraContainerID: r.GetK8S_POD_INFRA_CONTAINER_ID()}
	s.requests = append(s.requests, Request{Method: "AddNetwork", ClientVersion: r.GetClientVersion(), Key: key, Pod: pod, Netns: r.GetNetns()})
	if err := s.checkVersionLocked(r.GetClientVersion()); err != nil {
		return nil, err
	}
	if s.addFail.Code != codes.OK {
		return nil, status.Error(s.addFail.Code, s.addFail.Message)
	}
	if s.addFail.NoSuccess {
		return &pb.AddNetworkReply{Success: false}, nil
	}
	a, ok := s.assignLocked(key, pod)
	if !ok {
		return &pb.AddNetworkReply{Success: false}, nil
	}
	return &pb.AddNetworkReply{
		Success:              true,
		IPAllocationMetadata: []*pb.IPAllocationMetadata{metadata(a)},
		VPCv4CIDRs:           []string{"10.0.0.0/16"},
		PodVlanId:            int32(a.VLAN),
	}, nil
}

func (b cniBackend) DelNetwork(_ context.Context, r *pb.DelNetworkRequest) (*pb.DelNetworkReply, error) {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	key := rpcclient.PodKey{NetworkName: r.GetNetworkName(), ContainerID: r.GetContainerID(), IfName: r.GetIfName()}
	pod := rpcclient.Pod{Name: r.GetK8S_POD_NAME(), Namespace: r.GetK8S_POD_NAMESPACE(), InfraContainerID: r.GetK8S_POD_INFRA_CONTAINER_ID(), UID: r.GetK8S_POD_UID()}
	s.requests = append(s.requests, Request{Method: "DelNetwork", ClientVersion: r.GetClientVersion(), Key: key, Pod: pod, Reason: r.GetReason()})
	if err := s.checkVersionLocked(r.GetClientVersion()); err != nil {
		return nil, err
	}
	if s.delFail.Code != codes.OK {
		return nil, status.Error(s.delFail.Code, s.delFail.Message)
	}
	if s.delFail.NoSuccess {
		return &pb.DelNetworkReply{Success: false}, nil
	}
	a, ok := s.assigned[key]
	if !ok {
		switch s.cfg.UnknownPod {
		case UnknownPodUpstream:
			return nil, errors.New("datastore: unknown pod")
		case UnknownPodNotFound:
			return nil, status.Errorf(codes.NotFound, "unknown pod: no allocation for container %s interface %s", key.ContainerID, key.IfName)
		}
		return &pb.DelNetworkReply{Success: true}, nil
	}
	delete(s.assigned, key)
	s.updateAddressHealthLocked()
	return &pb.DelNetworkReply{Success: true, IPAllocationMetadata: []*pb.IPAllocationMetadata{metadata(a.addr)}}, nil
}

type ipamAdmin struct {
	rpcgrpc.UnimplementedIPAMAdminServer
	s *Server
}

func (b ipamAdmin) ListAllocations(_ context.Context, r *pb.ListAllocationsRequest) (*pb.ListAllocationsReply, error) {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: "ListAllocations", ClientVersion: r.GetClientVersion(), Key: rpcclient.PodKey{NetworkName: r.GetNetworkName()}})
	if err := s.checkVersionLocked(r.GetClientVersion()); err != nil {
		return nil, err
	}
	out := &pb.ListAllocationsReply{}
	for k, a := range s.assigned {
		if r.GetNetworkName() != "" && k.NetworkName != r.GetNetworkName() {
			continue
		}
		al := &pb.Allocation{
			ContainerID: k.ContainerID, IfName: k.IfName, NetworkName: k.NetworkName,
			K8S_POD_NAME: a.pod.Name, K8S_POD_NAMESPACE: a.pod.Namespace,
		}
		if a.addr.Addr.Is4() {
			al.IPv4Addr = a.addr.Addr.String()
		} else {
			al.IPv6Addr = a.addr.Addr.String()
		}
		out.Allocations = append(out.Allocations, al)
	}
	sort.Slice(out.Allocations, func(i, j int) bool {
		return strings.Compare(out.Allocations[i].ContainerID+"/"+out.Allocations[i].IfName,
			out.Allocations[j].ContainerID+"/"+out.Allocations[j].IfName) < 0
	})
	return out, nil
}
