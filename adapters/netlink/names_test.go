package netlink

import (
	"errors"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
)

func TestVethName(t *testing.T) {
	// Expected values are the first 11 hex digits of sha1("<ns>.<pod>"),
	// computed independently (python hashlib).
	tests := []struct {
		prefix, namespace, pod, want string
	}{
		{"eni", "default", "pod-a", "eni5e1c4d6c68c"},
		{"eni", "default", "pod-b", "eni2f5353dd8c5"},
		{"vlan", "kube-system", "coredns-5d78c9869d-x2x7p", "vlana331a91520e"},
		{"x", "", "", "x3a52ce78095"},
	}
	for _, tt := range tests {
		got := VethName(tt.prefix, tt.namespace, tt.pod)
		if got != tt.want {
			t.Errorf("VethName(%q, %q, %q) = %q, want %q", tt.prefix, tt.namespace, tt.pod, got, tt.want)
		}
		if len(got) > 15 {
			t.Errorf("VethName(%q, ...) = %q is longer than 15", tt.prefix, got)
		}
	}
}

func TestValidateVethPrefix(t *testing.T) {
	tests := []struct {
		prefix string
		ok     bool
	}{
		{"eni", true},
		{"a", true},
		{"ab-_", true},
		{"Z9", true},
		{"", false},
		{"abcde", false},
		{"eth", false},
		{"vlan", false},
		{"lo", false},
		{"e.n", false},
		{"é", false},
	}
	for _, tt := range tests {
		err := ValidateVethPrefix(tt.prefix)
		if (err == nil) != tt.ok {
			t.Errorf("ValidateVethPrefix(%q) = %v, want ok=%v", tt.prefix, err, tt.ok)
		}
		if err != nil && !errors.Is(err, core.ErrInvalidParameter) {
			t.Errorf("ValidateVethPrefix(%q) = %v, want core.ErrInvalidParameter", tt.prefix, err)
		}
	}
}
