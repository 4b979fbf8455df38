// Package cloudcontract is the one behavioural test suite for ports.Cloud.
//
// It exists so that every implementation of the cloud port (the in-memory
// simulator, the EC2 adapter talking to the HTTP emulator, and one day the
// EC2 adapter against a real account) is held to the same assertions: what
// a created ENI looks like, which sentinel error each failure unwraps to,
// how filters select ENIs, what attaching, detaching and deleting do. When
// the simulator and EC2 disagree, a case here fails for one of them, and
// either the simulator or the adapter is wrong.
//
// Run takes a constructor that builds a fresh, isolated environment per
// case: a region with one running instance whose limits the environment
// states, a roomy subnet with an IPv6 block and a /28 in the instance's
// availability zone, and a way to make an EC2 operation fail with an EC2
// error code. The package imports testing: it is test support, used only
// from _test.go files.
package cloudcontract
