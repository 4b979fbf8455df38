package netstate

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"

	"github.com/vpc-cni/vpc-cni/core"
)

// vethSuffixLen is the length of the pod-specific part of a host veth name.
const vethSuffixLen = 11

// VethSuffix is the part of a pod's host veth name that comes from the pod:
// the first 11 hex digits of the SHA-1 of "<namespace>.<pod>", as upstream
// names it. The full name is the veth prefix followed by it.
func VethSuffix(namespace, pod string) string {
	sum := sha1.Sum([]byte(namespace + "." + pod))
	return hex.EncodeToString(sum[:])[:vethSuffixLen]
}

// IsVethSuffix reports whether s has the shape of VethSuffix's result: 11
// lower-case hex digits.
func IsVethSuffix(s string) bool {
	if len(s) != vethSuffixLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
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

// PodVethSuffix returns the pod-specific part of name when name is shaped
// like a pod's host veth: a prefix ValidateVethPrefix accepts followed by
// 11 lowercase hex digits.
func PodVethSuffix(name string) (string, bool) {
	if len(name) <= vethSuffixLen || len(name) > vethSuffixLen+4 {
		return "", false
	}
	prefix, suffix := name[:len(name)-vethSuffixLen], name[len(name)-vethSuffixLen:]
	if !IsVethSuffix(suffix) || ValidateVethPrefix(prefix) != nil {
		return "", false
	}
	return suffix, true
}

// PodVeths indexes host veth names by their pod-specific part, so that a
// pod's veth is found whatever prefix it was made with: the prefix setting
// may have changed since the pod was wired, or differ between ipamd and
// the plugin. Of several names with one suffix, the one with prefix wins
// (else the smallest, so the choice does not depend on map order). Names
// not shaped like a pod's veth are left out.
func PodVeths(names map[string]bool, prefix string) map[string]string {
	out := make(map[string]string, len(names))
	for name := range names {
		suffix, ok := PodVethSuffix(name)
		if !ok {
			continue
		}
		cur, taken := out[suffix]
		if !taken || name == prefix+suffix || (cur != prefix+suffix && name < cur) {
			out[suffix] = name
		}
	}
	return out
}
