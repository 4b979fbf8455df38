package config

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// specs lists every variable. Order does not matter (the table is sorted by
// name); the grouping follows Env.
func specs() []spec {
	return []spec{
		// Warm pool and IPAM.
		warmENITarget(),
		countVar("WARM_IP_TARGET", func(e *Env) *int { return &e.WarmIPTarget },
			"Free addresses ipamd keeps ready. When set (alone or with MINIMUM_IP_TARGET) it replaces WARM_ENI_TARGET, and under prefix delegation WARM_PREFIX_TARGET; every free address beyond it is returned to EC2, so it costs more EC2 calls than the ENI target.").
			differs("A non-integer value is an error; upstream treats it as unset."),
		countVar("MINIMUM_IP_TARGET", func(e *Env) *int { return &e.MinimumIPTarget },
			"Floor on the total number of addresses the node holds (pre-scaling). Replaces WARM_ENI_TARGET when set; combine it with WARM_IP_TARGET, because alone it also acts as a ceiling.").
			differs("A non-integer value is an error; upstream treats it as unset."),
		countVar("WARM_PREFIX_TARGET", func(e *Env) *int { return &e.WarmPrefixTarget },
			"Prefix delegation only: free /28 prefixes ipamd keeps ready. WARM_IP_TARGET or MINIMUM_IP_TARGET take precedence when set.").
			differs("Unset by default as the README says (upstream manifests set 1). When prefix delegation is on and no WARM_PREFIX_TARGET, WARM_IP_TARGET or MINIMUM_IP_TARGET is set, 1 is used with a warning; the upstream entrypoint refuses to start instead. A non-integer value is an error."),
		countVar("MAX_ENI", func(e *Env) *int { return &e.MaxENI },
			"Upper bound on the ENIs attached to the node; never above the instance type's own limit. Unset means the instance limit.").
			differs("A non-integer value is an error; upstream ignores it."),
		boolVar("ENABLE_PREFIX_DELEGATION", false, func(e *Env) *bool { return &e.EnablePrefixDelegation },
			"Assign /28 prefixes (IPv4) or /80 prefixes (IPv6) to ENIs instead of individual secondary addresses. Nitro instances only; required for IPv6."),
		boolVar("ENABLE_IPv4", true, func(e *Env) *bool { return &e.EnableIPv4 },
			"Run the node in IPv4 mode. Exactly one of ENABLE_IPv4 and ENABLE_IPv6 must be true; when this variable is unset and ENABLE_IPv6=true it counts as false.").
			differs("Default true as the README states; upstream code defaults to false and relies on the manifest setting it. Invalid text is an error."),
		boolVar("ENABLE_IPv6", false, func(e *Env) *bool { return &e.EnableIPv6 },
			"Run the node in IPv6 mode: one /80 per ENI, pods get /128 addresses, no warm pool and no SNAT. Needs ENABLE_PREFIX_DELEGATION=true and excludes custom networking; dual stack is not supported. Not built yet: ipamd manages IPv6 addresses, but the plugin cannot wire an IPv6 pod, so true stops ipamd at start-up rather than fail every pod.").
			differs("Invalid text is an error; invalid combinations are rejected before anything touches the node, with a message naming the variable to change."),
		secondsVar("IP_COOLDOWN_PERIOD", 30, 0, func(e *Env) *time.Duration { return &e.IPCooldownPeriod },
			"Seconds a released pod address stays unused before it is handed out again, giving kube-proxy and other proxies time to forget it. 0 is allowed but risky.").
			differs("Negative or non-integer values are an error."),
		boolVar("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", false, func(e *Env) *bool { return &e.CustomNetworkCfg },
			"Custom networking: new ENIs use the subnet and security groups of the node's ENIConfig, and pods never use the primary ENI. IPv4 only. Not built yet: true stops ipamd at start-up (it cannot read ENIConfigs) rather than let it create ENIs in the node's own subnet."),
		stringVar("ENI_CONFIG_LABEL_DEF", "k8s.amazonaws.com/eniConfig", "string", "a Kubernetes label key", qualifiedName,
			func(e *Env) *string { return &e.ENIConfigLabelDef },
			"Node label whose value names the node's ENIConfig (custom networking, not built yet), e.g. topology.kubernetes.io/zone for one ENIConfig per zone. The annotation (ENI_CONFIG_ANNOTATION_DEF) wins when both are present.").
			differs("The key syntax is validated."),
		stringVar("ENI_CONFIG_ANNOTATION_DEF", "k8s.amazonaws.com/eniConfig", "string", "a Kubernetes annotation key", qualifiedName,
			func(e *Env) *string { return &e.ENIConfigAnnotationDef },
			"Node annotation whose value names the node's ENIConfig (custom networking, not built yet); takes precedence over the label.").
			differs("The key syntax is validated."),
		boolVar("ENABLE_SUBNET_DISCOVERY", true, func(e *Env) *bool { return &e.EnableSubnetDiscovery },
			"Choose the subnet of a new ENI among the VPC's subnets by tags (kubernetes.io/role/cni) instead of always using the primary ENI's subnet. Not built yet: new ENIs use the primary ENI's subnet; an explicit true logs a warning."),
		boolVar("AWS_MANAGE_ENIS_NON_SCHEDULABLE", false, func(e *Env) *bool { return &e.ManageENIsNonSchedulable },
			"Keep allocating and releasing ENIs while the node is cordoned (unschedulable). Not built yet: ENIs are managed whatever the node's state; true logs a warning."),
		boolVar("MANAGE_UNTAGGED_ENI", true, func(e *Env) *bool { return &e.ManageUntaggedENI },
			"Treat attached ENIs that carry no CNI tags as ours. Set false when something else attaches ENIs to the node; ENIs tagged node.k8s.amazonaws.com/no_manage=true are always left alone."),
		boolVar("DISABLE_NETWORK_RESOURCE_PROVISIONING", false, func(e *Env) *bool { return &e.DisableNetworkResourceProvisioning },
			"Never create, attach or grow ENIs: use only the ENIs and addresses instance metadata reports (provisioned by someone else)."),
		boolVar("ENABLE_IMDS_ONLY_MODE", false, func(e *Env) *bool { return &e.EnableIMDSOnlyMode },
			"Make no EC2 API call at all; implies DISABLE_NETWORK_RESOURCE_PROVISIONING."),
		boolVar("DISABLE_LEAKED_ENI_CLEANUP", false, func(e *Env) *bool { return &e.DisableLeakedENICleanup },
			"Turn off the hourly job that deletes detached ENIs this cluster created and leaked, saving EC2 calls."),
		boolVar("ENABLE_MULTI_NIC", false, func(e *Env) *bool { return &e.EnableMultiNIC },
			"Also manage ENIs on network cards other than card 0 (instances with several network cards)."),
		stringVar("AWS_VPC_K8S_CNI_BACKING_STORE", "/var/run/aws-node/ipam.json", "path", "an absolute path", absPath,
			func(e *Env) *string { return &e.BackingStore },
			"File where ipamd checkpoints pod address assignments so they survive a restart.").
			differs("Must be absolute."),
		boolVar("ANNOTATE_POD_IP", false, func(e *Env) *bool { return &e.AnnotatePodIP },
			"Write the pod's address into its vpc.amazonaws.com/pod-ips annotation as soon as it is assigned (needs the pods/patch permission). Not built yet: true logs a warning."),
		boolVar("ENABLE_POD_ENI", false, func(e *Env) *bool { return &e.EnablePodENI },
			"Security groups for pods: advertise trunk-ENI support so the VPC resource controller attaches a trunk ENI and gives selected pods their own branch ENI. Not built yet: true logs a warning, and pods that need a branch ENI stay pending."),
		enumVar("POD_SECURITY_GROUP_ENFORCING_MODE", SGPStrict, []SGPMode{SGPStrict, SGPStandard}, strings.ToLower,
			func(e *Env) *SGPMode { return &e.PodSecurityGroupEnforcingMode },
			"With ENABLE_POD_ENI: strict sends all traffic of a branch-ENI pod, even node-local, through its branch ENI; standard routes it like other pods so only off-node traffic meets the pod's security groups.").
			differs("Unknown values are an error."),
		enumVar("NETWORK_POLICY_ENFORCING_MODE", NetworkPolicyDisabled,
			[]NetworkPolicyMode{NetworkPolicyNone, NetworkPolicyStrict, NetworkPolicyStandard}, strings.ToLower,
			func(e *Env) *NetworkPolicyMode { return &e.NetworkPolicyEnforcingMode },
			"Mode passed to the network-policy node agent for every new pod. Empty (unset) makes no network-policy calls.").
			differs("Unset means disabled, as in upstream code (upstream manifests set standard). Unknown values are an error."),
		stringVar("CLUSTER_NAME", "", "string", "at most 256 characters", maxLen(maxTagValue),
			func(e *Env) *string { return &e.ClusterName },
			"Cluster name written into the cluster.k8s.amazonaws.com/name tag of new ENIs; also used to recognise this cluster's leaked ENIs and subnets.").
			differs("More than 256 characters (the EC2 tag-value limit) is an error."),
		tagsVar("ADDITIONAL_ENI_TAGS", func(e *Env) *map[string]string { return &e.AdditionalENITags },
			"Extra tags put on every ENI the node creates.").
			differs("Invalid JSON, keys over 128 or values over 256 characters and aws: keys are errors instead of EC2 failures later; reserved keys are dropped with a warning."),

		// AWS and Kubernetes clients.
		stringVar("VPC_CNI_VERSION", "", "string", "any text", anyString,
			func(e *Env) *string { return &e.VPCCNIVersion },
			"Version reported in the user agent of AWS and Kubernetes calls; the build's own version when unset."),
		secondsVar("HTTP_TIMEOUT", 10, 10, func(e *Env) *time.Duration { return &e.HTTPTimeout },
			"Timeout of one HTTP request to the AWS APIs.").
			differs("Values below 10 or non-integers are an error; upstream silently uses 10."),
		stringVar("AWS_EC2_ENDPOINT", "", "url", "an http(s) URL with a host", httpURL,
			func(e *Env) *string { return &e.EC2Endpoint },
			"Custom EC2 endpoint (a proxy or private endpoint); unset uses the SDK's regional endpoint.").
			differs("Validated as a URL. Upstream v1.23.1 reads it but does not apply it to the EC2 client."),
		stringVar("CLUSTER_ENDPOINT", "", "url", "an https URL or host[:port]", apiServer,
			func(e *Env) *string { return &e.ClusterEndpoint },
			"Kubernetes API server address to use instead of the in-cluster service address, so ipamd does not depend on kube-proxy at boot. Not used yet (ipamd does not talk to Kubernetes); setting it logs a warning.").
			differs("Validated as a URL or host[:port]."),
		stringVar("MY_NODE_NAME", "", "string", "any text (set through the downward API)", anyString,
			func(e *Env) *string { return &e.MyNodeName },
			"Name of the node this agent runs on."),
		stringVar("MY_POD_NAME", "", "string", "any text (set through the downward API)", anyString,
			func(e *Env) *string { return &e.MyPodName },
			"Name of the aws-node pod, used as the object of Kubernetes events."),

		// Datapath.
		boolVar("AWS_VPC_K8S_CNI_EXTERNALSNAT", false, func(e *Env) *bool { return &e.ExternalSNAT },
			"Leave SNAT of pod traffic leaving the VPC to an external NAT device: no SNAT rule and no connmark rules on the node."),
		cidrListVar("AWS_VPC_K8S_CNI_EXCLUDE_SNAT_CIDRS", func(e *Env) *[]netip.Prefix { return &e.ExcludeSNATCIDRs },
			"Extra destinations (besides the VPC CIDRs) that pod traffic reaches without SNAT and through the pod's own ENI. Ignored with external SNAT.").
			differs("Items are normalised to their network address."),
		enumVar("AWS_VPC_K8S_CNI_RANDOMIZESNAT", SNATPRNG, []SNATMode{SNATHashRandom, SNATPRNG, SNATNone}, strings.ToLower,
			func(e *Env) *SNATMode { return &e.RandomizeSNAT },
			"Source-port choice of the SNAT rule: prng adds --random-fully, hashrandom adds --random, none keeps sequential ports (useful with NACLs on the ephemeral range).").
			differs("Unknown values are an error; upstream falls back to the default."),
		connmarkVar("AWS_VPC_K8S_CNI_CONNMARK", 0x80, func(e *Env) *uint32 { return &e.Connmark },
			"Connection mark (also used as the mask) that sends the packets of SNATed and NodePort connections through the main routing table (ip rule priority 1024) instead of the pod's ENI table. A single bit avoids clashes with other users of the mark.").
			differs("Zero and unparsable values are an error."),
		boolVar("AWS_VPC_CNI_NODE_PORT_SUPPORT", true, func(e *Env) *bool { return &e.NodePortSupport },
			"Add the mangle rules and loose reverse-path filtering that make NodePort services answer through the primary ENI."),
		cidrListVar("AWS_EXTERNAL_SERVICE_CIDRS", func(e *Env) *[]netip.Prefix { return &e.ExternalServiceCIDRs },
			"Destinations always routed through the main table (an ip rule at priority 1535), so pods on secondary ENIs can reach services outside the VPC.").
			differs("Items are normalised to their network address."),
		mtuVar("AWS_VPC_ENI_MTU", 9001, func(e *Env) *int { return &e.ENIMTU },
			"MTU of the primary and secondary ENI links.").
			differs("Out-of-range values are an error; upstream falls back to 9001. IPv6 mode enforces the IPv6 minimum of 1280."),
		mtuVar("POD_MTU", 0, func(e *Env) *int { return &e.PodMTU },
			"MTU of the pod's eth0; unset means the value of AWS_VPC_ENI_MTU. A warning is given when it exceeds AWS_VPC_ENI_MTU.").
			differs("Out-of-range values are an error; the upstream plugin clamps them to 9001."),
		stringVar("AWS_VPC_K8S_CNI_VETHPREFIX", "eni", "string", "1 to 4 of [A-Za-z0-9-_], not eth, vlan or lo", vethPrefix,
			func(e *Env) *string { return &e.VethPrefix },
			"Prefix of the host-side veth names (prefix + 11 hash characters, within the kernel's 15-character limit).").
			differs("Characters not allowed in interface names are rejected as well."),
		boolVar("ENABLE_V4_EGRESS", true, func(e *Env) *bool { return &e.EnableV4Egress },
			"IPv6 mode: give pods an IPv4 egress interface (169.254.172.0/22, SNAT to the node's IPv4 address)."),
		boolVar("ENABLE_V6_EGRESS", false, func(e *Env) *bool { return &e.EnableV6Egress },
			"IPv4 mode: give pods an IPv6 egress interface (fd00::ac:00/118, SNAT to the node's IPv6 address); the primary ENI needs an IPv6 address. Set it on the init container too."),
		boolVar("DISABLE_POD_V6", false, func(e *Env) *bool { return &e.DisablePodV6 },
			"Chain the tuning plugin to switch IPv6 off inside every new pod network namespace (IPv4 clusters whose applications break with IPv6)."),
		boolVar("ENABLE_BANDWIDTH_PLUGIN", false, func(e *Env) *bool { return &e.EnableBandwidthPlugin },
			"Chain the bandwidth plugin in the installed conflist. Not compatible with the eBPF network-policy agent."),
		boolVar("DISABLE_TCP_EARLY_DEMUX", false, func(e *Env) *bool { return &e.DisableTCPEarlyDemux },
			"Init container: turn off net.ipv4.tcp_early_demux so kubelet TCP probes reach branch-ENI pods (security groups for pods)."),

		// Logs.
		logLevelVar("AWS_VPC_K8S_CNI_LOGLEVEL", func(e *Env) *LogLevel { return &e.LogLevel },
			"Log level of ipamd and the metrics helper.").
			differs("Unknown levels are an error."),
		stringVar("AWS_VPC_K8S_CNI_LOG_FILE", "/host/var/log/aws-routed-eni/ipamd.log", "path", "stdout, stderr or an absolute path", logFile,
			func(e *Env) *string { return &e.LogFile },
			"Where ipamd logs; /host/var/log is the node's /var/log seen from the container.").
			differs("Relative paths are rejected."),
		logLevelVar("AWS_VPC_K8S_PLUGIN_LOG_LEVEL", func(e *Env) *LogLevel { return &e.PluginLogLevel },
			"Log level of the aws-cni and egress-cni plugins.").
			differs("Unknown levels are an error."),
		pluginLogFileVar(),
		stringVar("AWS_VPC_K8S_EGRESS_V4_PLUGIN_LOG_FILE", "/var/log/aws-routed-eni/egress-v4-plugin.log", "path", "stderr or an absolute path", pluginLogFile,
			func(e *Env) *string { return &e.EgressV4PluginLogFile },
			"Where the IPv4 egress plugin logs (node path).").
			differs("Relative paths and stdout are rejected."),
		stringVar("AWS_VPC_K8S_EGRESS_V6_PLUGIN_LOG_FILE", "/var/log/aws-routed-eni/egress-v6-plugin.log", "path", "stderr or an absolute path", pluginLogFile,
			func(e *Env) *string { return &e.EgressV6PluginLogFile },
			"Where the IPv6 egress plugin logs (node path).").
			differs("Relative paths and stdout are rejected."),

		// Agent endpoints and installation.
		boolVar("DISABLE_INTROSPECTION", false, func(e *Env) *bool { return &e.DisableIntrospection },
			"Turn off the introspection HTTP endpoint (used by support scripts)."),
		stringVar("INTROSPECTION_BIND_ADDRESS", "127.0.0.1:61679", "address", "host:port or unix:<socket path>", bindAddress,
			func(e *Env) *string { return &e.IntrospectionBindAddress },
			"Listen address of the introspection endpoint; unix:<path> serves it on a unix socket.").
			differs("Validated at start-up instead of failing at listen time."),
		boolVar("DISABLE_METRICS", false, func(e *Env) *bool { return &e.DisableMetrics },
			"Turn off the Prometheus endpoint on :61678/metrics."),
		stringVar("HOST_CNI_BIN_PATH", "/host/opt/cni/bin", "path", "an absolute path", absPath,
			func(e *Env) *string { return &e.HostCNIBinPath },
			"Directory (as seen from the container) where the plugin binaries are installed.").
			differs("Must be absolute."),
		stringVar("HOST_CNI_CONFDIR_PATH", "/host/etc/cni/net.d", "path", "an absolute path", absPath,
			func(e *Env) *string { return &e.HostCNIConfDirPath },
			"Directory (as seen from the container) where the conflist is written.").
			differs("Must be absolute."),

		// cni-metrics-helper.
		boolVar("USE_CLOUDWATCH", true, func(e *Env) *bool { return &e.UseCloudWatch },
			"cni-metrics-helper: publish the aggregated CNI metrics to CloudWatch (namespace Kubernetes)."),
		boolVar("USE_PROMETHEUS", false, func(e *Env) *bool { return &e.UsePrometheus },
			"cni-metrics-helper: also serve the aggregated metrics for Prometheus on :61681."),
		secondsVar("METRIC_UPDATE_INTERVAL", 30, 1, func(e *Env) *time.Duration { return &e.MetricUpdateInterval },
			"cni-metrics-helper: seconds between two scrapes of the aws-node pods (CloudWatch publishes every second scrape).").
			differs("Zero, negative or non-integer values are an error."),
		stringVar("AWS_REGION", "", "string", "any text", anyString,
			func(e *Env) *string { return &e.AWSRegion },
			"AWS region; read from instance metadata when unset."),
		stringVar("AWS_CLUSTER_ID", "", "string", "any text", anyString,
			func(e *Env) *string { return &e.AWSClusterID },
			"cni-metrics-helper: CLUSTER_ID dimension of the CloudWatch metrics; derived from the instance's tags when unset."),

		// Deprecated no-ops.
		deprecatedVar("AWS_VPC_K8S_CNI_CONFIGURE_RPFILTER", "true",
			"Deprecated, no effect: the init container always sets the primary interface's reverse-path filter."),
		deprecatedVar("ENABLE_NFTABLES", "false",
			"Deprecated, no effect: the firewall backend is detected from the rules already on the node."),
	}
}

func warmENITarget() spec {
	const name = "WARM_ENI_TARGET"
	return spec{
		Var: Var{Name: name, Default: "1", Kind: "integer", Accepts: "an integer; a negative value means 1 (with a warning)",
			Description: "Free ENIs' worth of addresses ipamd keeps ready (secondary-IP mode). Ignored when WARM_IP_TARGET or MINIMUM_IP_TARGET is set.",
			Upstream:    "Negative values become 1 as upstream does, but with a warning; non-integer text is an error instead of silently meaning 1."},
		apply: func(p *parser, e *Env, raw string, set bool) {
			v := 1
			if set {
				n, err := strconv.Atoi(raw)
				switch {
				case err != nil:
					p.fail(name, raw, "an integer")
				case n < 0:
					p.warn("%s=%d is negative; using 1", name, n)
				default:
					v = n
				}
			}
			e.WarmENITarget = v
		},
		show: func(e *Env) string { return strconv.Itoa(e.WarmENITarget) },
	}
}

// pluginLogFileVar is AWS_VPC_K8S_PLUGIN_LOG_FILE: unlike the other
// variables, an empty value is a value (stderr).
func pluginLogFileVar() spec {
	s := stringVar("AWS_VPC_K8S_PLUGIN_LOG_FILE", "/var/log/aws-routed-eni/plugin.log", "path",
		"stderr, an empty value (= stderr) or an absolute path; not stdout", pluginLogFile,
		func(e *Env) *string { return &e.PluginLogFile },
		"Where the aws-cni plugin logs (node path). The plugin runs under the container runtime, so stderr ends up in the runtime's log, never in the aws-node pod's log; stdout is reserved for the CNI result.").
		differs("Relative paths are rejected; an empty value is stored as stderr.")
	s.keepEmpty = true
	inner := s.apply
	s.apply = func(p *parser, e *Env, raw string, set bool) {
		inner(p, e, raw, set)
		if e.PluginLogFile == "" {
			e.PluginLogFile = "stderr"
		}
	}
	return s
}
