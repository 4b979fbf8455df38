// Package version holds the release string shared by the aws-cni plugin and
// the ipamd daemon.
//
// Both sides of the plugin <-> ipamd gRPC contract send or check it: the
// plugin puts it in ClientVersion and ipamd refuses a request whose version
// differs from its own, so a node never runs a plugin binary against a daemon
// from another release without saying so. Upstream meant to do the same but
// its build flag pointed at a package path that does not exist, so both sides
// always compared two empty strings. Here the variable lives in a real
// package and the build sets it with
//
//	go build -ldflags "-X github.com/vpc-cni/vpc-cni/app/version.Version=v1.2.3" ./cmd/...
//
// The tests of cmd/aws-cni build the plugin with that flag and check that
// the stamped version reaches both the about text and ipamd.
package version
