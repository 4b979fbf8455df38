// Package rpcgrpc holds the generated grpc-go stubs of the ipamd <-> plugin
// services (service.proto); their messages are in adapters/rpc/pb. The
// split keeps grpc-go out of the plugin binary, which imports only the
// messages. Regenerate with `make proto`.
package rpcgrpc
