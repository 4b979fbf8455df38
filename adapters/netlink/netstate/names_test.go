package netstate

import (
	"maps"
	"testing"
)

func TestPodVethSuffix(t *testing.T) {
	tests := []struct {
		name, suffix string
		ok           bool
	}{
		{"eni5e1c4d6c68c", "5e1c4d6c68c", true},
		{"cali5e1c4d6c68c", "5e1c4d6c68c", true},
		{"a5e1c4d6c68c", "5e1c4d6c68c", true},
		{"5e1c4d6c68c", "", false},      // no prefix
		{"abcde5e1c4d6c68c", "", false}, // prefix of five
		{"eni5e1c4d6c68C", "", false},   // not lowercase hex
		{"eni5e1c4d6c68g", "", false},   // not hex
		{"eth5e1c4d6c68c", "", false},   // the node's own names
		{"a.b5e1c4d6c68c", "", false},   // prefix character
		{"eth0", "", false},             // too short
		{"vlan5e1c4d6c68c", "", false},  // reserved prefix
		{"eni_5e1c4d6c68c", "5e1c4d6c68c", true},
	}
	for _, tc := range tests {
		suffix, ok := PodVethSuffix(tc.name)
		if suffix != tc.suffix || ok != tc.ok {
			t.Errorf("PodVethSuffix(%q) = %q, %v; want %q, %v", tc.name, suffix, ok, tc.suffix, tc.ok)
		}
	}
	if s := VethSuffix("default", "pod-a"); s != "5e1c4d6c68c" {
		t.Errorf("VethSuffix(default, pod-a) = %q", s)
	}
}

func TestPodVeths(t *testing.T) {
	names := map[string]bool{
		"eth0": true, "eni5e1c4d6c68c": true, // pod-a under the old prefix
		"abc2f5353dd8c5": true, "eni2f5353dd8c5": true, "xyz2f5353dd8c5": true, // pod-b three times
		"zz0123456789a": true, "yy0123456789a": true, // neither has the prefix
	}
	want := map[string]string{
		"5e1c4d6c68c": "eni5e1c4d6c68c",
		"2f5353dd8c5": "abc2f5353dd8c5", // the prefix's own wins
		"0123456789a": "yy0123456789a",  // else the smallest
	}
	for range 20 { // map order must not matter
		if got := PodVeths(names, "abc"); !maps.Equal(got, want) {
			t.Fatalf("PodVeths = %v, want %v", got, want)
		}
	}
	if got := PodVeths(nil, "eni"); len(got) != 0 {
		t.Errorf("PodVeths(nil) = %v", got)
	}
}

func TestIsVethSuffix(t *testing.T) {
	for s, want := range map[string]bool{
		VethSuffix("default", "web"): true,
		"0123456789a":                true,
		"0123456789":                 false, // 10 digits
		"0123456789ab":               false, // 12
		"0123456789A":                false, // upper case
		"0123456789g":                false,
		"":                           false,
	} {
		if got := IsVethSuffix(s); got != want {
			t.Errorf("IsVethSuffix(%q) = %v, want %v", s, got, want)
		}
	}
}
