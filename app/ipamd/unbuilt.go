package ipamd

import (
	"fmt"

	"github.com/vpc-cni/vpc-cni/app/config"
)

// unbuilt checks the settings that ask for features this build does not
// have yet, so that none of them is silently ignored.
//
// IPv6 mode is refused: the plugin cannot wire an IPv6 pod yet (it fails
// such an ADD), so every pod of the node would fail.
//
// Custom networking is refused: its subnets and security groups come from
// the node's ENIConfig, which ipamd cannot read without a Kubernetes
// client, and going on without them would create ENIs in the node's own
// subnet, the one custom networking exists to spare. The others change
// nothing for the node's ordinary pods, so they are warned about: pods
// that need a branch ENI stay pending, pod IP annotations are not written,
// new ENIs use the node's subnet, ENIs are managed on cordoned nodes too.
// ENABLE_SUBNET_DISCOVERY is true by default: only an explicit true is
// worth a warning.
func unbuilt(env config.Env, lookup func(string) (string, bool)) (warns []string, err error) {
	if env.CustomNetworkCfg {
		v, _ := lookup("AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG")
		return nil, &config.VarError{Name: "AWS_VPC_K8S_CNI_CUSTOM_NETWORK_CFG", Value: v,
			Want: "false: custom networking (ENIConfig subnets and security groups) is not built yet, and without the ENIConfig " +
				"ipamd would create ENIs in the node's own subnet; it does not start instead"}
	}
	if env.EnableIPv6 {
		v, _ := lookup("ENABLE_IPv6")
		return nil, &config.VarError{Name: "ENABLE_IPv6", Value: v,
			Want: "false: IPv6 pod wiring (the pod's /128 with its IPv6 gateway and routes, the IPv4 egress plugin) is not built yet, " +
				"and pods would get an IPv6 address they cannot route; it does not start instead"}
	}
	notYet := func(name, what string) {
		v, _ := lookup(name)
		warns = append(warns, fmt.Sprintf("%s=%s has no effect yet: %s", name, v, what))
	}
	if env.EnablePodENI {
		notYet("ENABLE_POD_ENI", "security groups for pods (trunk and branch ENIs) are not built; pods that need a branch ENI stay pending")
	}
	if env.AnnotatePodIP {
		notYet("ANNOTATE_POD_IP", "ipamd has no Kubernetes client to annotate pods with their address")
	}
	if env.ManageENIsNonSchedulable {
		notYet("AWS_MANAGE_ENIS_NON_SCHEDULABLE", "ipamd does not read the node's schedulability and manages ENIs on every node")
	}
	if _, set := lookup("ENABLE_SUBNET_DISCOVERY"); set && env.EnableSubnetDiscovery {
		notYet("ENABLE_SUBNET_DISCOVERY", "subnets tagged kubernetes.io/role/cni are not looked up; new ENIs use the primary ENI's subnet")
	}
	if env.ClusterEndpoint != "" {
		notYet("CLUSTER_ENDPOINT", "ipamd does not talk to the Kubernetes API")
	}
	return warns, nil
}
