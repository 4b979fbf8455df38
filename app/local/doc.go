// Package local brings up simulated EC2 nodes on one Linux machine and
// runs the real vpc-cni binaries on them: the harness behind `make run`,
// `vpc-cni local` and the end-to-end tests in test/e2e.
//
// It exists because the claims that matter about a CNI (a pod on a
// secondary ENI can reach the internet through SNAT, NodePort replies are
// not dropped by reverse-path filtering, DEL leaves nothing behind) are
// claims about the kernel, the firewall and two processes talking over a
// socket, and can only be checked by running all of them together.
//
// # Kernel mode (root)
//
// Every node is a network namespace. A "VPC" namespace plays the EC2
// fabric: each ENI attached to an instance is a veth pair whose node end
// carries the ENI's MAC (eth0, eth1, ...) and whose VPC end answers for
// the subnet gateway. The VPC namespace routes every address EC2 has
// assigned to the ENI that holds it, and drops packets whose source does
// not belong to the ENI they came from (strict reverse-path filtering:
// EC2's source/destination check). Behind it an "internet" namespace runs
// a server that tells each client the source address it saw.
//
// The EC2 API and the instance metadata service are the emulator
// (adapters/emulator) over a simulated region (adapters/memory), served
// from inside the VPC namespace: EC2 at http://10.0.255.254, metadata at
// the real link-local address http://169.254.169.254, answering for the
// instance whose address the request comes from. The emulator's attach and
// detach hooks are the hypervisor that creates and removes the veth pairs.
//
// Each node runs the aws-k8s-agent binary (ipamd) with --cloud=aws, so it
// reaches EC2 and metadata over HTTP through its own eth0 with the real
// SDK clients. Pods are namespaces too; they are added and deleted by
// calling the aws-cni binary through libcni, as containerd does, with the
// plugin running in the node's namespace.
//
// # Memory mode (not root)
//
// Without the privileges to create namespaces, the same bring-up runs
// ipamd in-process on the simulated region with the in-memory datapath and
// firewall, and drives the plugin's own code (app/cniplugin) in-process
// through libcni. Pods get addresses and datapath state, but no packet
// moves, so the connectivity checks are reported as not run.
package local
