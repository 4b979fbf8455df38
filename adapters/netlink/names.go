package netlink

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"

	"github.com/vpc-cni/vpc-cni/core"
)

// DefaultVethPrefix is the upstream default of AWS_VPC_K8S_CNI_VETHPREFIX.
const DefaultVethPrefix = "eni"

// VethName returns the host-side veth name of a pod: the prefix followed by
// the first 11 hex digits of the SHA-1 of "<namespace>.<pod>", the same name
// upstream gives it, so the two implementations find each other's veths.
// With a prefix of at most 4 characters the name fits the kernel's 15.
func VethName(prefix, namespace, pod string) string {
	sum := sha1.Sum([]byte(namespace + "." + pod))
	return prefix + hex.EncodeToString(sum[:])[:11]
}

// ValidateVethPrefix accepts 1 to 4 of [A-Za-z0-9-_], other than "eth",
// "vlan" and "lo" (names the node's own interfaces use). The error wraps
// core.ErrInvalidParameter.
func ValidateVethPrefix(prefix string) error {
	bad := func(why string) error {
		return fmt.Errorf("check veth prefix %q: %w: %s", prefix, core.ErrInvalidParameter, why)
	}
	switch {
	case prefix == "":
		return bad("empty")
	case len(prefix) > 4:
		return bad("longer than 4 characters")
	case prefix == "eth" || prefix == "vlan" || prefix == "lo":
		return bad("reserved for the node's own interfaces")
	}
	for _, r := range prefix {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return bad("only letters, digits, '-' and '_' are allowed")
		}
	}
	return nil
}
