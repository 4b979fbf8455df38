// Command aws-cni is the CNI plugin the container runtime executes for
// every pod sandbox (conflist type "aws-cni"). It asks ipamd for the pod's
// address over /var/run/aws-node/ipamd.sock and wires the pod with netlink;
// the logic lives in app/cniplugin. Stdout carries only the CNI result.
package main

import (
	"log/slog"

	"github.com/containernetworking/cni/pkg/skel"

	"github.com/vpc-cni/vpc-cni/adapters/netlink"
	"github.com/vpc-cni/vpc-cni/app/cniplugin"
	"github.com/vpc-cni/vpc-cni/ports"
)

func main() {
	plugin, err := cniplugin.NewWithOpener(cniplugin.Config{}, openNetlink)
	if err != nil {
		panic(err) // only with a nil opener, a programming error
	}
	skel.PluginMainFuncs(plugin.Funcs(), cniplugin.VersionInfo(), cniplugin.About())
}

// openNetlink opens the kernel datapath in the node's namespace, logging to
// the plugin log.
func openNetlink(log *slog.Logger) (ports.PodNetwork, func(), error) {
	d, err := netlink.New(netlink.Config{Logger: log})
	if err != nil {
		return nil, nil, err
	}
	return d, func() { _ = d.Close() }, nil
}
