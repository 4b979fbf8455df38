// Package pb holds the generated messages of the ipamd <-> plugin contract
// (rpc.proto) and of the gRPC health check (health.proto). The grpc-go
// service stubs are in adapters/rpc/rpcgrpc, so that importing the
// messages does not link grpc-go.
//
// Next to protoc-gen-go's code, protoc-gen-go-vtproto generates
// MarshalVT/UnmarshalVT/SizeVT for every message: the plugin, a new
// process per command, uses them to skip protobuf's reflective codec and
// its per-type setup on first use. vtproto_test.go checks that both codecs
// write the same bytes and read each other's. Regenerate with `make proto`.
package pb
