package netlink

import (
	"github.com/vpc-cni/vpc-cni/adapters/netlink/netstate"
)

// DefaultVethPrefix is the upstream default of AWS_VPC_K8S_CNI_VETHPREFIX.
const DefaultVethPrefix = "eni"

// VethName returns the host-side veth name of a pod: the prefix followed by
// the pod's netstate.VethSuffix, the same name upstream gives it, so the
// two implementations find each other's veths. With a prefix of at most 4
// characters the name fits the kernel's 15.
func VethName(prefix, namespace, pod string) string {
	return prefix + netstate.VethSuffix(namespace, pod)
}

// IsVethSuffix is netstate.IsVethSuffix.
func IsVethSuffix(s string) bool { return netstate.IsVethSuffix(s) }

// ValidateVethPrefix is netstate.ValidateVethPrefix.
func ValidateVethPrefix(prefix string) error { return netstate.ValidateVethPrefix(prefix) }
