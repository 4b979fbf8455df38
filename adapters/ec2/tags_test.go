package ec2

import (
	"reflect"
	"strings"
	"testing"
)

func TestValidateExtraTags(t *testing.T) {
	long := strings.Repeat("k", 129)
	tests := []struct {
		name         string
		in           map[string]string
		kept         map[string]string
		rejectedKeys []string
	}{
		{"nil", nil, map[string]string{}, nil},
		{"plain tags kept", map[string]string{"team": "net", "env": ""}, map[string]string{"team": "net", "env": ""}, nil},
		{"reserved substring rejected", map[string]string{
			"node.k8s.amazonaws.com/instance_id": "i-evil",
			"cluster.k8s.amazonaws.com/name":     "other",
			"my.k8s.amazonaws.com.copy":          "x",
			"team":                               "net",
		}, map[string]string{"team": "net"}, []string{"cluster.k8s.amazonaws.com/name", "my.k8s.amazonaws.com.copy", "node.k8s.amazonaws.com/instance_id"}},
		{"aws prefix rejected", map[string]string{"aws:cloudformation:stack": "s", "AWS:x": "y"}, map[string]string{}, []string{"AWS:x", "aws:cloudformation:stack"}},
		{"limits", map[string]string{"": "v", long: "v", "ok": strings.Repeat("v", 256), "big": strings.Repeat("v", 257)},
			map[string]string{"ok": strings.Repeat("v", 256)}, []string{"", "big", long}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kept, rejected := ValidateExtraTags(tt.in)
			if !reflect.DeepEqual(kept, tt.kept) {
				t.Errorf("kept = %v, want %v", kept, tt.kept)
			}
			if len(rejected) != len(tt.rejectedKeys) {
				t.Fatalf("rejected = %q, want entries for %q", rejected, tt.rejectedKeys)
			}
			for i, k := range tt.rejectedKeys {
				// Each entry names the key (quoted) and a reason.
				prefix := `"` + k + `": `
				if !strings.HasPrefix(rejected[i], prefix) || len(rejected[i]) <= len(prefix) {
					t.Errorf("rejected[%d] = %q, want %q followed by a reason", i, rejected[i], prefix)
				}
			}
		})
	}
}
