// Package nsexec runs a function inside another network namespace. It is
// the only place in the firewall adapters that changes a thread's
// namespace, so the rules for doing that safely live in one spot: the
// goroutine is locked to its OS thread, the thread enters the namespace,
// and the thread is thrown away afterwards instead of being returned to
// the Go scheduler in a foreign namespace.
//
// Child processes started from that goroutine (iptables, iptables-save)
// inherit the thread's namespace, and netlink sockets opened there belong
// to it, which is why the iptables backends can be pointed at a namespace
// without wrapping their binaries in "ip netns exec".
package nsexec
