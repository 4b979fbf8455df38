package cniplugin

import "github.com/vpc-cni/vpc-cni/adapters/netlink"

// HostVethName is the host-side veth of a pod (netlink.VethName: prefix
// plus 11 hex digits of SHA-1("<namespace>.<pod>")). The name depends only
// on the pod's identity, so a retried ADD finds the link it made before, and
// it is the name upstream gives, so pods survive a switch between the
// implementations.
func HostVethName(prefix, namespace, pod string) string {
	return netlink.VethName(prefix, namespace, pod)
}

// dummyName names the result-only "dummy" interface that carries the VLAN
// and device number for DEL (it never exists as a link).
func dummyName(namespace, pod string) string {
	return netlink.VethName("dummy", namespace, pod)
}
