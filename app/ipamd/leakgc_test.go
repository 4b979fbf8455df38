package ipamd

import (
	"testing"

	"github.com/vpc-cni/vpc-cni/app/config"
)

func TestLeakGCEnabled(t *testing.T) {
	cases := []struct {
		name  string
		cloud string
		env   func(*config.Env)
		want  bool
	}{
		{"aws default", CloudAWS, func(*config.Env) {}, true},
		{"emulator", CloudEmulator, func(*config.Env) {}, true},
		{"memory cloud has nobody else's leaks", CloudMemory, func(*config.Env) {}, false},
		{"DISABLE_LEAKED_ENI_CLEANUP", CloudAWS, func(e *config.Env) { e.DisableLeakedENICleanup = true }, false},
		{"DISABLE_NETWORK_RESOURCE_PROVISIONING", CloudAWS, func(e *config.Env) { e.DisableNetworkResourceProvisioning = true }, false},
		{"ENABLE_IMDS_ONLY_MODE", CloudAWS, func(e *config.Env) { e.EnableIMDSOnlyMode = true }, false},
		{"IPv6", CloudAWS, func(e *config.Env) { e.EnableIPv6 = true }, false},
	}
	for _, c := range cases {
		env, _, err := config.Parse(func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		c.env(&env)
		o := DefaultOptions()
		o.Cloud = c.cloud
		if got := leakGCEnabled(o, env); got != c.want {
			t.Errorf("%s: enabled=%v, want %v", c.name, got, c.want)
		}
	}
}
