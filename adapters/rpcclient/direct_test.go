package rpcclient

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	"github.com/vpc-cni/vpc-cni/adapters/rpc/pb"
	"github.com/vpc-cni/vpc-cni/adapters/rpc/rpcgrpc"
)

func TestEncodeTimeout(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "1n"},
		{-time.Second, "1n"},
		{1500 * time.Nanosecond, "1500n"},
		{99999999 * time.Nanosecond, "99999999n"},
		{100 * time.Millisecond, "100000u"},
		{10 * time.Second, "10000000u"},
		{2 * time.Minute, "120000m"},
		{30 * time.Hour, "108000S"},
		{200000 * time.Hour, "12000000M"},
	} {
		if got := encodeTimeout(tt.d); got != tt.want {
			t.Errorf("encodeTimeout(%s) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestDecodeGRPCMessage(t *testing.T) {
	for in, want := range map[string]string{
		"plain":               "plain",
		"100%25 used":         "100% used",
		"%C3%BC%0Anext":       "ü\nnext",
		"bad %zz and tail %4": "bad %zz and tail %4",
		"%":                   "%",
	} {
		if got := decodeGRPCMessage(in); got != want {
			t.Errorf("decodeGRPCMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFinishRejectsMalformedReplies(t *testing.T) {
	for _, tt := range []struct {
		name   string
		reply  []byte
		status int
		code   codes.Code
		msg    string
	}{
		{"no status", []byte{0, 0, 0, 0, 0}, -1, codes.Internal, "without grpc-status"},
		{"error status", nil, int(codes.NotFound), codes.NotFound, "ipamd's text"},
		{"no message", nil, 0, codes.Internal, "has no message"},
		{"compressed", []byte{1, 0, 0, 0, 1, 7}, 0, codes.Internal, "compressed"},
		{"short", []byte{0, 0, 0, 0, 9, 1}, 0, codes.Internal, "9 bytes announced, 1 received"},
		{"two messages", []byte{0, 0, 0, 0, 1, 7, 0, 0, 0, 0, 0}, 0, codes.Internal, "1 bytes announced, 6 received"},
	} {
		_, err := finish("/m", tt.reply, tt.status, "ipamd's text")
		var ce *callError
		if !errors.As(err, &ce) || ce.code != tt.code || !strings.Contains(ce.msg, tt.msg) {
			t.Errorf("%s: finish error = %v, want code %s with %q", tt.name, err, tt.code, tt.msg)
		}
	}
	msg, err := finish("/m", []byte{0, 0, 0, 0, 2, 8, 1}, 0, "")
	if err != nil || string(msg) != "\x08\x01" {
		t.Errorf("finish of a valid reply = %q, %v", msg, err)
	}
}

// The method names the client calls are those of the generated stubs and
// of grpc's health service; the health messages are grpc.health.v1's on
// the wire.
func TestMethodNamesAndHealthWire(t *testing.T) {
	for got, want := range map[string]string{
		methodAddNetwork:      rpcgrpc.CNIBackend_AddNetwork_FullMethodName,
		methodDelNetwork:      rpcgrpc.CNIBackend_DelNetwork_FullMethodName,
		methodListAllocations: rpcgrpc.IPAMAdmin_ListAllocations_FullMethodName,
		methodHealthCheck:     healthpb.Health_Check_FullMethodName,
	} {
		if got != want {
			t.Errorf("method %q, generated stubs say %q", got, want)
		}
	}
	b, err := proto.Marshal(&pb.HealthCheckRequest{Service: "vpc-cni.addresses"})
	if err != nil {
		t.Fatal(err)
	}
	var req healthpb.HealthCheckRequest
	if err := proto.Unmarshal(b, &req); err != nil || req.GetService() != "vpc-cni.addresses" {
		t.Errorf("our request read as grpc.health.v1: %v, %v", req.GetService(), err)
	}
	for st, want := range map[healthpb.HealthCheckResponse_ServingStatus]pb.HealthCheckResponse_ServingStatus{
		healthpb.HealthCheckResponse_UNKNOWN:         pb.HealthCheckResponse_UNKNOWN,
		healthpb.HealthCheckResponse_SERVING:         pb.HealthCheckResponse_SERVING,
		healthpb.HealthCheckResponse_NOT_SERVING:     pb.HealthCheckResponse_NOT_SERVING,
		healthpb.HealthCheckResponse_SERVICE_UNKNOWN: pb.HealthCheckResponse_SERVICE_UNKNOWN,
	} {
		b, err := proto.Marshal(&healthpb.HealthCheckResponse{Status: st})
		if err != nil {
			t.Fatal(err)
		}
		var resp pb.HealthCheckResponse
		if err := proto.Unmarshal(b, &resp); err != nil || resp.GetStatus() != want {
			t.Errorf("grpc.health.v1 status %s read as %s (%v), want %s", st, resp.GetStatus(), err, want)
		}
	}
}

// unmarshal replaces what the reply message held, with the generated
// decoder as with protobuf's (the generated one alone would merge), and
// marshal writes the same bytes either way.
func TestCodecReplacesContents(t *testing.T) {
	sent := &pb.AddNetworkReply{Success: true, VPCv4CIDRs: []string{"10.0.0.0/16"}}
	data, err := marshal(sent)
	if err != nil {
		t.Fatal(err)
	}
	if ref, _ := proto.Marshal(sent); string(ref) != string(data) {
		t.Fatalf("marshal %x, proto.Marshal %x", data, ref)
	}
	stale := &pb.AddNetworkReply{VPCv4CIDRs: []string{"192.168.0.0/16"}, PodVlanId: 3}
	if err := unmarshal(data, stale); err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(stale, sent) {
		t.Fatalf("decoded %v, sent %v", stale, sent)
	}
	if err := unmarshal([]byte{0x0a, 0x7f}, stale); err == nil {
		t.Fatal("malformed reply decoded without error")
	}
}
