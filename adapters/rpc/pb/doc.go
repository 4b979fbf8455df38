// Package pb holds the generated gRPC code of the ipamd <-> plugin
// contract (rpc.proto). Regenerate with `make proto`.
package pb
