// Package grpcconn is an rpcclient.Dialer over grpc-go's ClientConn:
// concurrent calls and reconnects, for long-lived callers. The CNI plugin
// uses rpcclient's own direct transport instead, and does not link this.
package grpcconn

import (
	"context"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/vpc-cni/vpc-cni/adapters/rpcclient"
)

type grpcConn struct {
	cc *grpc.ClientConn
}

var _ rpcclient.Dialer = Dial

// Dial connects to ipamd's socket at path and waits, up to timeout, for
// the HTTP/2 handshake. A socket that refuses connections is an error
// wrapping rpcclient.ErrUnavailable.
func Dial(ctx context.Context, path string, timeout time.Duration) (rpcclient.Conn, error) {
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

// Invoke makes a unary call; gRPC statuses come back as
// rpcclient.StatusError.
func (g *grpcConn) Invoke(ctx context.Context, method string, req, resp proto.Message) error {
	err := g.cc.Invoke(ctx, method, req, resp)
	if st, ok := status.FromError(err); ok && err != nil {
		return rpcclient.StatusError(st.Code(), st.Message())
	}
	return err
}

// Close closes the ClientConn, cancelling calls in progress.
func (g *grpcConn) Close() error { return g.cc.Close() }

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
			return fmt.Errorf("%w: connection state %s", rpcclient.ErrUnavailable, s)
		}
		if !conn.WaitForStateChange(ctx, s) {
			return fmt.Errorf("%w: not ready within %s (state %s)", rpcclient.ErrUnavailable, timeout, s)
		}
	}
}
