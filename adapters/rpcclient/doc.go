// Package rpcclient is the CNI plugin's side of the gRPC contract with
// ipamd (adapters/rpc/pb): it dials ipamd's unix socket, sends the plugin's version in every request, and turns
// replies into plain Go values (netip addresses, ints) and gRPC status
// codes into sentinel errors:
//
//   - Unavailable, DeadlineExceeded, or a socket nobody listens on:
//     ErrUnavailable (the plugin falls back to local teardown on DEL).
//   - FailedPrecondition: ErrVersionMismatch (ipamd is from another
//     release).
//   - Unimplemented: ErrUnimplemented (an upstream ipamd asked for our
//     ListAllocations extension).
//   - NotFound, or any message containing "unknown pod" (upstream sends
//     "datastore: unknown pod" with code Unknown): core.ErrUnknownPod.
//   - ResourceExhausted: core.ErrNoAvailableAddress.
//
// Two transports carry the calls (Config.Dialer). The direct one, the
// default, is a single HTTP/2 connection driven by the caller's goroutine
// (golang.org/x/net/http2 frames, protobuf messages, gRPC's length-prefixed
// envelope and grpc-status trailers): the plugin is executed once per pod,
// and grpc-go's channel machinery cost a cold process twice as much as the
// call itself. This package does not import grpc-go, so neither does the
// plugin. adapters/rpcclient/grpcconn is grpc-go's ClientConn as a Dialer,
// for long-lived callers. The same test suite runs against both and the
// same server. Only the direct transport can run the caller's work between
// sending a request and reading its reply (AddNetworkWhile, OverlapConn):
// the plugin prepares the pod's veth pair there, with no second goroutine.
//
// The direct transport also starts no runtime timer unless a call has to
// wait: a call's deadline goes on the socket, and its context is watched
// for cancellation, only once a read or write would block (callWaits).
// Callers that want the same of their own deadline use adapters/lazyctx,
// as the plugin does, and the Client's CallTimeout is one of those.
//
// Every error keeps ipamd's own message so the plugin can show it. The
// package exists so the plugin logic (app/cniplugin) can be tested against
// a real in-process gRPC server (see fakeipamd) rather than a mock.
package rpcclient
