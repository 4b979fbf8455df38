package config

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/core/warmpool"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

func TestNodeIPAM(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want func(c *nodeipam.Config)
	}{
		{"defaults", nil, func(c *nodeipam.Config) {}},
		{
			"targets and limits",
			map[string]string{
				"WARM_ENI_TARGET": "2", "WARM_IP_TARGET": "5", "MINIMUM_IP_TARGET": "10",
				"WARM_PREFIX_TARGET": "1", "ENABLE_PREFIX_DELEGATION": "true", "MAX_ENI": "3",
				"IP_COOLDOWN_PERIOD": "45",
			},
			func(c *nodeipam.Config) {
				c.Targets = warmpool.Targets{WarmENI: 2, WarmIP: 5, MinimumIP: 10, WarmPrefix: 1}
				c.PrefixDelegation = true
				c.MaxENI = 3
				c.Cooldown = 45 * time.Second
			},
		},
		{
			"IPv6 mode",
			map[string]string{"ENABLE_IPv6": "true", "ENABLE_PREFIX_DELEGATION": "true"},
			func(c *nodeipam.Config) { c.IPv6 = true; c.PrefixDelegation = true },
		},
		{
			"no provisioning",
			map[string]string{"DISABLE_NETWORK_RESOURCE_PROVISIONING": "true"},
			func(c *nodeipam.Config) { c.DisableProvisioning = true },
		},
		{
			"IMDS-only mode implies no provisioning",
			map[string]string{"ENABLE_IMDS_ONLY_MODE": "true"},
			func(c *nodeipam.Config) { c.DisableProvisioning = true },
		},
		{
			"ENI ownership and tags",
			map[string]string{
				"DISABLE_LEAKED_ENI_CLEANUP": "true", "MANAGE_UNTAGGED_ENI": "false", "CLUSTER_NAME": "prod",
				"ADDITIONAL_ENI_TAGS": `{"team":"net","k8s.amazonaws.com/x":"dropped"}`,
			},
			func(c *nodeipam.Config) {
				c.DisableLeakedENICleanup = true
				c.ManageUntaggedENIs = false
				c.ClusterName = "prod"
				c.ExtraTags = map[string]string{"team": "net"}
			},
		},
		{
			"custom networking keeps pods off the primary ENI",
			map[string]string{"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true"},
			func(c *nodeipam.Config) { c.SkipPrimaryENI = true },
		},
		{
			"settings that are not the node IPAM's leave it alone",
			map[string]string{"AWS_VPC_ENI_MTU": "1500", "ENABLE_POD_ENI": "true", "AWS_VPC_K8S_CNI_EXTERNALSNAT": "true"},
			func(c *nodeipam.Config) {},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _, err := parseMap(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			want := nodeipam.Defaults()
			want.ExtraTags = map[string]string{}
			tc.want(&want)
			got := env.NodeIPAM()
			if !reflect.DeepEqual(got, want) {
				t.Errorf("NodeIPAM()\n got %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestNodeIPAMCopiesTags(t *testing.T) {
	env, _, err := parseMap(map[string]string{"ADDITIONAL_ENI_TAGS": `{"a":"1"}`})
	if err != nil {
		t.Fatal(err)
	}
	c := env.NodeIPAM()
	c.ExtraTags["a"] = "changed"
	if env.AdditionalENITags["a"] != "1" {
		t.Error("NodeIPAM shares its tag map with Env")
	}
}

func TestIntrospectionSettings(t *testing.T) {
	tests := []struct {
		name          string
		env           map[string]string
		ipamd, netenv string
	}{
		{
			name:  "defaults",
			ipamd: `{"AWS_MANAGE_ENIS_NON_SCHEDULABLE":false,"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG":false,"ENABLE_SUBNET_DISCOVERY":true,"WARM_ENI_TARGET":1,"WARM_IP_TARGET":0}`,
			netenv: `{"AWS_EXTERNAL_SERVICE_CIDRS":null,"AWS_VPC_CNI_NODE_PORT_SUPPORT":true,"AWS_VPC_ENI_MTU":9001,"AWS_VPC_K8S_CNI_CONNMARK":128,` +
				`"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS":null,"AWS_VPC_K8S_CNI_EXTERNALSNAT":false,"AWS_VPC_K8S_CNI_RANDOMIZESNAT":2,"AWS_VPC_K8S_CNI_VETHPREFIX":"eni"}`,
		},
		{
			name: "set",
			env: map[string]string{
				"WARM_IP_TARGET": "3", "WARM_ENI_TARGET": "0", "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": "true",
				"AWS_MANAGE_ENIS_NON_SCHEDULABLE": "true", "ENABLE_SUBNET_DISCOVERY": "false",
				"AWS_EXTERNAL_SERVICE_CIDRS": "10.1.0.0/16,192.168.0.1/24", "AWS_VPC_CNI_NODE_PORT_SUPPORT": "false",
				"AWS_VPC_ENI_MTU": "1500", "AWS_VPC_K8S_CNI_CONNMARK": "0x40", "AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": "0.0.0.0/0",
				"AWS_VPC_K8S_CNI_RANDOMIZESNAT": "none", "AWS_VPC_K8S_CNI_VETHPREFIX": "veth",
			},
			ipamd: `{"AWS_MANAGE_ENIS_NON_SCHEDULABLE":true,"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG":true,"ENABLE_SUBNET_DISCOVERY":false,"WARM_ENI_TARGET":0,"WARM_IP_TARGET":3}`,
			netenv: `{"AWS_EXTERNAL_SERVICE_CIDRS":["10.1.0.0/16","192.168.0.0/24"],"AWS_VPC_CNI_NODE_PORT_SUPPORT":false,"AWS_VPC_ENI_MTU":1500,"AWS_VPC_K8S_CNI_CONNMARK":64,` +
				`"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS":["0.0.0.0/0"],"AWS_VPC_K8S_CNI_EXTERNALSNAT":false,"AWS_VPC_K8S_CNI_RANDOMIZESNAT":0,"AWS_VPC_K8S_CNI_VETHPREFIX":"veth"}`,
		},
		{
			name:   "hashrandom",
			env:    map[string]string{"AWS_VPC_K8S_CNI_RANDOMIZESNAT": "hashrandom", "AWS_VPC_K8S_CNI_EXTERNALSNAT": "true"},
			ipamd:  `{"AWS_MANAGE_ENIS_NON_SCHEDULABLE":false,"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG":false,"ENABLE_SUBNET_DISCOVERY":true,"WARM_ENI_TARGET":1,"WARM_IP_TARGET":0}`,
			netenv: `{"AWS_EXTERNAL_SERVICE_CIDRS":null,"AWS_VPC_CNI_NODE_PORT_SUPPORT":true,"AWS_VPC_ENI_MTU":9001,"AWS_VPC_K8S_CNI_CONNMARK":128,"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS":null,"AWS_VPC_K8S_CNI_EXTERNALSNAT":true,"AWS_VPC_K8S_CNI_RANDOMIZESNAT":1,"AWS_VPC_K8S_CNI_VETHPREFIX":"eni"}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env, _, err := parseMap(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				what string
				m    map[string]any
				want string
			}{{"IPAMDSettings", env.IPAMDSettings(), tc.ipamd}, {"NetworkSettings", env.NetworkSettings(), tc.netenv}} {
				b, err := json.Marshal(c.m)
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != c.want {
					t.Errorf("%s\n got %s\nwant %s", c.what, b, c.want)
				}
			}
		})
	}
}

func TestIntrospectionUnixSocket(t *testing.T) {
	tests := []struct {
		addr, path string
		unix       bool
	}{
		{"unix:/run/aws-node/introspect.sock", "/run/aws-node/introspect.sock", true},
		{"127.0.0.1:61679", "", false},
	}
	for _, tc := range tests {
		env, _, err := parseMap(map[string]string{"INTROSPECTION_BIND_ADDRESS": tc.addr})
		if err != nil {
			t.Fatal(err)
		}
		p, ok := env.IntrospectionUnixSocket()
		if p != tc.path || ok != tc.unix {
			t.Errorf("%s: got %q %v, want %q %v", tc.addr, p, ok, tc.path, tc.unix)
		}
	}
}
