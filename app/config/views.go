package config

import (
	"maps"

	"github.com/vpc-cni/vpc-cni/core/warmpool"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// NodeIPAM returns the node IPAM service configuration: nodeipam.Defaults()
// with every field that an environment variable controls filled in. Fields
// that depend on runtime state (ENIConfig subnet and security groups,
// reserved slots for a trunk ENI, max pods) are left for the caller.
func (e Env) NodeIPAM() nodeipam.Config {
	c := nodeipam.Defaults()
	c.Targets = warmpool.Targets{
		WarmENI:    e.WarmENITarget,
		WarmIP:     e.WarmIPTarget,
		MinimumIP:  e.MinimumIPTarget,
		WarmPrefix: e.WarmPrefixTarget,
	}
	c.PrefixDelegation = e.EnablePrefixDelegation
	c.IPv6 = e.EnableIPv6
	c.MaxENI = e.MaxENI
	c.Cooldown = e.IPCooldownPeriod
	c.DisableProvisioning = e.DisableNetworkResourceProvisioning || e.EnableIMDSOnlyMode
	c.DisableLeakedENICleanup = e.DisableLeakedENICleanup
	c.ManageUntaggedENIs = e.ManageUntaggedENI
	c.ClusterName = e.ClusterName
	c.ExtraTags = maps.Clone(e.AdditionalENITags)
	if c.ExtraTags == nil {
		c.ExtraTags = map[string]string{}
	}
	c.SkipPrimaryENI = e.CustomNetworkCfg
	return c
}

// IPAMDSettings is the body of the introspection endpoint
// /v1/ipamd-env-settings: the same keys and JSON types as upstream.
func (e Env) IPAMDSettings() map[string]any {
	return map[string]any{
		"WARM_IP_TARGET":                     e.WarmIPTarget,
		"WARM_ENI_TARGET":                    e.WarmENITarget,
		"AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG": e.CustomNetworkCfg,
		"AWS_MANAGE_ENIS_NON_SCHEDULABLE":    e.ManageENIsNonSchedulable,
		"ENABLE_SUBNET_DISCOVERY":            e.EnableSubnetDiscovery,
	}
}

// NetworkSettings is the body of the introspection endpoint
// /v1/networkutils-env-settings: the same keys and JSON types as upstream
// (CIDR lists as string arrays, null when empty; the SNAT mode as upstream's
// number: 0 none, 1 hashrandom, 2 prng).
func (e Env) NetworkSettings() map[string]any {
	return map[string]any{
		"AWS_EXTERNAL_SERVICE_CIDRS":         prefixStrings(e.ExternalServiceCIDRs),
		"AWS_VPC_CNI_NODE_PORT_SUPPORT":      e.NodePortSupport,
		"AWS_VPC_ENI_MTU":                    e.ENIMTU,
		"AWS_VPC_K8S_CNI_CONNMARK":           e.Connmark,
		"AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS": prefixStrings(e.ExcludeSNATCIDRs),
		"AWS_VPC_K8S_CNI_EXTERNALSNAT":       e.ExternalSNAT,
		"AWS_VPC_K8S_CNI_RANDOMIZESNAT":      e.RandomizeSNAT.upstreamNumber(),
		"AWS_VPC_K8S_CNI_VETHPREFIX":         e.VethPrefix,
	}
}

// upstreamNumber is the enum value upstream's introspection prints.
func (m SNATMode) upstreamNumber() int {
	switch m {
	case SNATHashRandom:
		return 1
	case SNATPRNG:
		return 2
	default:
		return 0
	}
}
