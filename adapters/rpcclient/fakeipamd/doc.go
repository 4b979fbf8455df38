// Package fakeipamd is a small stateful ipamd for tests of the other side
// of the gRPC contract: the CNI plugin, the installer's readiness wait, the
// health probe. It serves CNIBackend, IPAMAdmin and grpc.health.v1 on a
// real unix socket, hands out addresses from a fixed list, remembers them
// by IPAM key (network name, container ID, interface name), enforces the
// version handshake when given a server version, and can be told to fail
// calls or to go down.
//
// It is a simulator of ipamd's observable behaviour, not a mock: tests
// check the state it ends in (which keys hold which address), never the
// order of calls. Production code never imports it.
package fakeipamd
