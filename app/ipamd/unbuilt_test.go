package ipamd

import (
	"errors"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/app/config"
	"github.com/vpc-cni/vpc-cni/core"
)

// Settings asking for what is not built yet are never silently ignored:
// custom networking stops the start (it would otherwise drain the node's
// own subnet), so does IPv6 mode (no pod could be wired), the others are warned about, and the defaults say nothing.
func TestUnbuiltSettings(t *testing.T) {
	parse := func(t *testing.T, m map[string]string) ([]string, error) {
		t.Helper()
		lookup := func(k string) (string, bool) { v, ok := m[k]; return v, ok }
		env, _, err := config.Parse(lookup)
		if err != nil {
			t.Fatal(err)
		}
		return unbuilt(env, lookup)
	}
	if w, err := parse(t, nil); err != nil || len(w) != 0 {
		t.Errorf("defaults: warnings %q, error %v; want neither", w, err)
	}
	_, err := parse(t, map[string]string{"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "1"})
	var ve *config.VarError
	if !errors.As(err, &ve) || ve.Name != "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG" || ve.Value != "1" || !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("custom networking: error %v, want a VarError naming the variable and its value", err)
	}
	_, err = parse(t, map[string]string{"ENABLE_IPv6": "true", "ENABLE_PREFIX_DELEGATION": "true"})
	if !errors.As(err, &ve) || ve.Name != "ENABLE_IPv6" || ve.Value != "true" || !strings.Contains(err.Error(), "not built") {
		t.Errorf("IPv6 mode: error %v, want a VarError naming ENABLE_IPv6 and saying it is not built", err)
	}
	warns, err := parse(t, map[string]string{
		"ENABLE_POD_ENI": "true", "ANNOTATE_POD_IP": "true", "AWS_MANAGE_ENIS_NON_SCHEDULABLE": "true",
		"ENABLE_SUBNET_DISCOVERY": "true", "CLUSTER_ENDPOINT": "https://10.0.0.1:443",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"ENABLE_POD_ENI", "ANNOTATE_POD_IP", "AWS_MANAGE_ENIS_NON_SCHEDULABLE", "ENABLE_SUBNET_DISCOVERY", "CLUSTER_ENDPOINT"} {
		if !strings.Contains(strings.Join(warns, "\n"), name+"=") {
			t.Errorf("no warning names %s: %q", name, warns)
		}
	}
	if w, _ := parse(t, map[string]string{"ENABLE_SUBNET_DISCOVERY": "false", "ENABLE_POD_ENI": "false"}); len(w) != 0 {
		t.Errorf("features turned off: warnings %q", w)
	}
}
