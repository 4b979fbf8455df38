package rpcclient

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
)

// grpcConn is TransportGRPC: a grpc-go ClientConn.
type grpcConn struct {
	cc *grpc.ClientConn
}

func dialGRPC(ctx context.Context, path string, timeout time.Duration) (*grpcConn, error) {
	dialer := func(ctx context.Context, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", path)
	}
	cc, err := grpc.NewClient("unix://"+path,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(dialer),
	)
	if err != nil {
		return nil, fmt.Errorf("create gRPC client: %w", err)
	}
	if err := waitReady(ctx, cc, timeout); err != nil {
		_ = cc.Close()
		return nil, err
	}
	return &grpcConn{cc: cc}, nil
}

func (g *grpcConn) invoke(ctx context.Context, method string, req, resp proto.Message) error {
	return g.cc.Invoke(ctx, method, req, resp)
}

func (g *grpcConn) close() error { return g.cc.Close() }

// waitReady drives the connection until it is ready, fails, or the timeout
// passes. A refused or missing socket shows up as TransientFailure right
// after the first attempt, so callers do not wait for the timeout then.
func waitReady(ctx context.Context, conn *grpc.ClientConn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn.Connect()
	for {
		s := conn.GetState()
		switch s {
		case connectivity.Ready:
			return nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			return fmt.Errorf("%w: connection state %s", ErrUnavailable, s)
		}
		if !conn.WaitForStateChange(ctx, s) {
			return fmt.Errorf("%w: not ready within %s (state %s)", ErrUnavailable, timeout, s)
		}
	}
}
