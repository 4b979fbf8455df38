// Package cniplugin is the logic of the aws-cni CNI plugin, the binary the
// container runtime executes for every pod sandbox. cmd/aws-cni only hands
// these functions to skel.PluginMainFuncs with the netlink datapath, so
// everything here runs in tests against a real gRPC server (fakeipamd) and
// any ports.PodNetwork.
//
// # Commands
//
//   - ADD: parse the netconf and CNI_ARGS (K8S_POD_NAME and
//     K8S_POD_NAMESPACE are required), ask ipamd for an address
//     (AddNetwork, keyed by network name, container ID and interface name,
//     with this build's version for the handshake), wire the pod through
//     ports.PodNetwork, print the result. The wiring is split in two, on
//     one goroutine: once the AddNetwork request is sent, the datapath is
//     opened and PreparePod run (the veth pair and everything else that
//     does not depend on the address) while ipamd works on it; then the
//     reply is read and SetupPod adds the address, the host route and the
//     rules. When ipamd cannot be reached nothing is prepared; when it has
//     no address (or fails) the prepared pair is removed again. When
//     preparing fails the address goes back over the same connection
//     (DelNetwork with reason SetupNSFailed); when wiring fails the
//     half-built pod is torn down and the address given back over a new
//     connection (the first one is closed before the pod is wired). A
//     retried ADD converges: ipamd returns the same address for the same
//     key and PreparePod and SetupPod are idempotent. When the result
//     cannot be printed, the ADD fails and the pod is unwired and its
//     address given back as well.
//   - DEL: ask ipamd to release (DelNetwork), then unwire with what ipamd
//     returned. An unknown pod is success; if its namespace still exists
//     (the retry of a DEL that released the address but failed to unwire),
//     what is left is torn down: the veth pair, and the prevResult
//     address's rules unless ipamd lists that address as another
//     container's by now. When ipamd is unreachable or fails,
//     unwire from the prevResult and succeed; ipamd reclaims the address
//     later. A bad netconf does not block a DEL: bad values fall back to
//     defaults with a log line.
//   - CHECK: verify the wiring the prevResult describes (PodNetwork.CheckPod)
//     and, when ipamd can list allocations, that it still holds that address
//     for the container.
//   - STATUS (CNI 1.1): ready when ipamd answers on its socket, its gRPC
//     health for "" is SERVING and "vpc-cni.addresses" is not NOT_SERVING
//     (ipamd's way of saying the node holds no pod address at all; a full
//     node stays ready, since a failed STATUS has the node reported not
//     ready and its running pods evicted; an upstream ipamd does not know
//     the name, which counts as ready).
//     Otherwise error code 50.
//   - GC (CNI 1.1): release every allocation of this network whose
//     (container ID, interface) is not in cni.dev/valid-attachments, via
//     IPAMAdmin.ListAllocations (our extension; an upstream ipamd answers
//     Unimplemented and GC does nothing). A GC request without the key
//     releases nothing, rather than everything.
//
// # Result layout
//
// The result has the layout upstream's plugin writes, so either
// implementation can DEL the other's pods without ipamd: the host veth
// (name and MAC), the container interface (sandbox = netns, mac = the
// route table id as a decimal string), and an interface named
// "dummy<hash>" that exists only in the result (mac = VLAN id, sandbox =
// ENI device number; upstream may leave sandbox empty for a branch ENI
// pod, so the record is known by its name and numeric mac). The address is /32 (or /128) on the container
// interface. Results are built as CNI 1.0.0 and converted to the
// netconf's cniVersion (0.3.0 to 1.1.0).
//
// # Netconf
//
// vethPrefix (default "eni"; 1-4 of [A-Za-z0-9-_], not eth, vlan, lo), mtu
// (string or number, default 9001; values outside 576..9001 become 9001
// with a log line, as upstream), podSGEnforcingMode (strict|standard),
// pluginLogFile (default /var/log/aws-routed-eni/plugin.log; "stderr" or
// "" for stderr; "stdout" is refused because stdout carries the result; a
// file that cannot be opened fails no command, which then logs to stderr
// with a warning),
// pluginLogLevel (Debug, Info, Warn, Error, Fatal), ipamdSocket (default
// /var/run/aws-node/ipamd.sock), and runtimeConfig's pod annotations.
//
// # Differences from upstream
//
//   - The version handshake works: the plugin sends app/version's
//     version and a mismatch fails the ADD with a message naming both.
//   - CNI errors carry codes a runtime can act on: 11 (try again later)
//     when ipamd is unreachable or has no address, 50 from STATUS.
//   - The plugin log is bounded: past 100 MiB it moves to <file>.1 (only
//     while it is the file measured, so concurrent commands do not rotate
//     a fresh log over the rotated one).
//   - Not wired here: branch ENI pods (security groups for pods; the
//     address is released with an error naming the VLAN), multi-NIC pods
//     (one interface is wired, with a warning), and the network policy
//     agent call (logged when ipamd reports a policy mode).
package cniplugin
