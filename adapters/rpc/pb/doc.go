// Package pb holds the generated messages of the ipamd <-> plugin contract
// (rpc.proto) and of the gRPC health check (health.proto). The grpc-go
// service stubs are in adapters/rpc/rpcgrpc, so that importing the
// messages does not link grpc-go. Regenerate with `make proto`.
package pb
