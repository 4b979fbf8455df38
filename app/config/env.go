package config

import (
	"net/netip"
	"time"
)

// SNATMode is AWS_VPC_K8S_CNI_RANDOMIZESNAT: how the SNAT rule picks source
// ports.
type SNATMode string

const (
	// SNATPRNG adds --random-fully (falls back to --random on old iptables).
	SNATPRNG SNATMode = "prng"
	// SNATHashRandom adds --random.
	SNATHashRandom SNATMode = "hashrandom"
	// SNATNone keeps the kernel's sequential port choice.
	SNATNone SNATMode = "none"
)

// SGPMode is POD_SECURITY_GROUP_ENFORCING_MODE.
type SGPMode string

const (
	// SGPStrict sends all traffic of a branch-ENI pod through its branch ENI.
	SGPStrict SGPMode = "strict"
	// SGPStandard routes node-local traffic of a branch-ENI pod like any
	// other pod's.
	SGPStandard SGPMode = "standard"
)

// NetworkPolicyMode is NETWORK_POLICY_ENFORCING_MODE. The agent only passes
// it to the network-policy node agent with each new pod; it is that agent
// which gives the modes their meaning.
type NetworkPolicyMode string

const (
	// NetworkPolicyDisabled (the empty string) makes no network-policy calls.
	NetworkPolicyDisabled NetworkPolicyMode = ""
	// NetworkPolicyNone is the mode "none".
	NetworkPolicyNone NetworkPolicyMode = "none"
	// NetworkPolicyStandard is the mode "standard": new pods start with
	// traffic allowed until their policies are resolved.
	NetworkPolicyStandard NetworkPolicyMode = "standard"
	// NetworkPolicyStrict is the mode "strict": new pods start with traffic
	// denied until their policies are resolved.
	NetworkPolicyStrict NetworkPolicyMode = "strict"
)

// LogLevel is a log level variable, normalised to upper case.
type LogLevel string

const (
	LogDebug LogLevel = "DEBUG"
	LogInfo  LogLevel = "INFO"
	LogWarn  LogLevel = "WARN"
	LogError LogLevel = "ERROR"
	LogFatal LogLevel = "FATAL"
)

// Env is every environment variable of the product, parsed and validated.
// The zero value is not meaningful; obtain one from Parse or FromOS.
// Each field names its variable; docs/configuration.md has the full table.
type Env struct {
	// Warm pool and IPAM.

	// WarmENITarget is WARM_ENI_TARGET (default 1; negative becomes 1).
	WarmENITarget int
	// WarmIPTarget is WARM_IP_TARGET (0 = unset).
	WarmIPTarget int
	// MinimumIPTarget is MINIMUM_IP_TARGET (0 = unset).
	MinimumIPTarget int
	// WarmPrefixTarget is WARM_PREFIX_TARGET (0 = unset).
	WarmPrefixTarget int
	// MaxENI is MAX_ENI (0 = the instance type's limit).
	MaxENI int
	// EnablePrefixDelegation is ENABLE_PREFIX_DELEGATION.
	EnablePrefixDelegation bool
	// EnableIPv4 is ENABLE_IPv4 (default true).
	EnableIPv4 bool
	// EnableIPv6 is ENABLE_IPv6.
	EnableIPv6 bool
	// IPCooldownPeriod is IP_COOLDOWN_PERIOD.
	IPCooldownPeriod time.Duration
	// CustomNetworkCfg is AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG.
	CustomNetworkCfg bool
	// ENIConfigLabelDef is ENI_CONFIG_LABEL_DEF.
	ENIConfigLabelDef string
	// ENIConfigAnnotationDef is ENI_CONFIG_ANNOTATION_DEF.
	ENIConfigAnnotationDef string
	// EnableSubnetDiscovery is ENABLE_SUBNET_DISCOVERY.
	EnableSubnetDiscovery bool
	// ManageENIsNonSchedulable is AWS_MANAGE_ENIS_NON_SCHEDULABLE.
	ManageENIsNonSchedulable bool
	// ManageUntaggedENI is MANAGE_UNTAGGED_ENI.
	ManageUntaggedENI bool
	// DisableNetworkResourceProvisioning is
	// DISABLE_NETWORK_RESOURCE_PROVISIONING.
	DisableNetworkResourceProvisioning bool
	// EnableIMDSOnlyMode is ENABLE_IMDS_ONLY_MODE.
	EnableIMDSOnlyMode bool
	// DisableLeakedENICleanup is DISABLE_LEAKED_ENI_CLEANUP.
	DisableLeakedENICleanup bool
	// EnableMultiNIC is ENABLE_MULTI_NIC.
	EnableMultiNIC bool
	// BackingStore is AWS_VPC_K8S_CNI_BACKING_STORE, the checkpoint path.
	BackingStore string
	// AnnotatePodIP is ANNOTATE_POD_IP.
	AnnotatePodIP bool
	// EnablePodENI is ENABLE_POD_ENI (security groups for pods).
	EnablePodENI bool
	// PodSecurityGroupEnforcingMode is POD_SECURITY_GROUP_ENFORCING_MODE.
	PodSecurityGroupEnforcingMode SGPMode
	// NetworkPolicyEnforcingMode is NETWORK_POLICY_ENFORCING_MODE.
	NetworkPolicyEnforcingMode NetworkPolicyMode
	// ClusterName is CLUSTER_NAME.
	ClusterName string
	// AdditionalENITags is ADDITIONAL_ENI_TAGS without the reserved keys;
	// never nil.
	AdditionalENITags map[string]string

	// AWS and Kubernetes clients.

	// VPCCNIVersion is VPC_CNI_VERSION (user agent).
	VPCCNIVersion string
	// HTTPTimeout is HTTP_TIMEOUT.
	HTTPTimeout time.Duration
	// EC2Endpoint is AWS_EC2_ENDPOINT ("" = the SDK's endpoint).
	EC2Endpoint string
	// ClusterEndpoint is CLUSTER_ENDPOINT ("" = in-cluster discovery).
	ClusterEndpoint string
	// MyNodeName is MY_NODE_NAME (downward API).
	MyNodeName string
	// MyPodName is MY_POD_NAME (downward API).
	MyPodName string

	// Datapath.

	// ExternalSNAT is AWS_VPC_K8S_CNI_EXTERNALSNAT.
	ExternalSNAT bool
	// ExcludeSNATCIDRs is AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS (valid IPv4
	// items only, masked).
	ExcludeSNATCIDRs []netip.Prefix
	// RandomizeSNAT is AWS_VPC_K8S_CNI_RANDOMIZESNAT.
	RandomizeSNAT SNATMode
	// Connmark is AWS_VPC_K8S_CNI_CONNMARK, used as mark and mask.
	Connmark uint32
	// NodePortSupport is AWS_VPC_CNI_NODE_PORT_SUPPORT.
	NodePortSupport bool
	// ExternalServiceCIDRs is AWS_EXTERNAL_SERVICE_CIDRS (valid IPv4 items
	// only, masked).
	ExternalServiceCIDRs []netip.Prefix
	// ENIMTU is AWS_VPC_ENI_MTU.
	ENIMTU int
	// PodMTU is POD_MTU; equal to ENIMTU when unset.
	PodMTU int
	// VethPrefix is AWS_VPC_K8S_CNI_VETHPREFIX.
	VethPrefix string
	// EnableV4Egress is ENABLE_V4_EGRESS (IPv6 clusters).
	EnableV4Egress bool
	// EnableV6Egress is ENABLE_V6_EGRESS (IPv4 clusters).
	EnableV6Egress bool
	// DisablePodV6 is DISABLE_POD_V6.
	DisablePodV6 bool
	// EnableBandwidthPlugin is ENABLE_BANDWIDTH_PLUGIN.
	EnableBandwidthPlugin bool
	// DisableTCPEarlyDemux is DISABLE_TCP_EARLY_DEMUX.
	DisableTCPEarlyDemux bool

	// Logs.

	// LogLevel is AWS_VPC_K8S_CNI_LOGLEVEL.
	LogLevel LogLevel
	// LogFile is AWS_VPC_K8S_CNI_LOG_FILE: "stdout", "stderr" or a path.
	LogFile string
	// PluginLogLevel is AWS_VPC_K8S_PLUGIN_LOG_LEVEL.
	PluginLogLevel LogLevel
	// PluginLogFile is AWS_VPC_K8S_PLUGIN_LOG_FILE: "stderr" or a path (an
	// empty value is stored as "stderr").
	PluginLogFile string
	// EgressV4PluginLogFile is AWS_VPC_K8S_EGRESS_V4_PLUGIN_LOG_FILE.
	EgressV4PluginLogFile string
	// EgressV6PluginLogFile is AWS_VPC_K8S_EGRESS_V6_PLUGIN_LOG_FILE.
	EgressV6PluginLogFile string

	// Agent endpoints and installation.

	// DisableIntrospection is DISABLE_INTROSPECTION.
	DisableIntrospection bool
	// IntrospectionBindAddress is INTROSPECTION_BIND_ADDRESS: host:port or
	// unix:<path>.
	IntrospectionBindAddress string
	// DisableMetrics is DISABLE_METRICS.
	DisableMetrics bool
	// HostCNIBinPath is HOST_CNI_BIN_PATH.
	HostCNIBinPath string
	// HostCNIConfDirPath is HOST_CNI_CONFDIR_PATH.
	HostCNIConfDirPath string

	// cni-metrics-helper.

	// UseCloudWatch is USE_CLOUDWATCH.
	UseCloudWatch bool
	// UsePrometheus is USE_PROMETHEUS.
	UsePrometheus bool
	// MetricUpdateInterval is METRIC_UPDATE_INTERVAL.
	MetricUpdateInterval time.Duration
	// AWSRegion is AWS_REGION ("" = ask instance metadata).
	AWSRegion string
	// AWSClusterID is AWS_CLUSTER_ID ("" = derive from instance tags).
	AWSClusterID string
}

// IntrospectionUnixSocket reports whether IntrospectionBindAddress names a
// unix socket, and its path.
func (e Env) IntrospectionUnixSocket() (string, bool) {
	const p = "unix:"
	if len(e.IntrospectionBindAddress) > len(p) && e.IntrospectionBindAddress[:len(p)] == p {
		return e.IntrospectionBindAddress[len(p):], true
	}
	return "", false
}
