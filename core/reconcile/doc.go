// Package reconcile compares what the cloud says is attached to this
// instance with what the node's datastore believes, and plans the changes
// that bring the datastore back in line. It only plans: the node service
// carries the plan out (talking to EC2, updating the datastore, tagging).
//
// Why a separate, pure planner: reconciliation is where a CNI can hurt
// running pods. The upstream plugin trusted instance metadata (IMDS) for
// destructive steps, and IMDS can lag EC2 by many seconds after an address
// or interface changes; after a restart with stale metadata it removed
// interfaces and addresses that were still in use (upstream issue #1967).
// Keeping the decision in one function of plain values lets every rule be
// pinned down by table tests.
//
// The rules, in short:
//
//   - Which interfaces are ours. An ENI tagged no_manage=true is never used
//     or modified. The primary ENI is always ours, even when tagged
//     no_manage (the node cannot run without it). An ENI tagged with another
//     instance's ID belongs to someone else. An untagged secondary ENI is ours
//     when ManageUntagged is set (MANAGE_UNTAGGED_ENI, default true), or when
//     its description shows that this instance created it. ENIs on network
//     cards other than 0 are ours only with MultiNIC. Trunk ENIs are adopted
//     but carry no pod addresses.
//   - Additions are always safe: a block (secondary /32, IPv4 /28 or IPv6
//     /80 prefix) that the cloud reports on a known ENI but the datastore
//     lacks is added, whatever the source. An unknown non-primary ENI seen
//     only through IMDS is not adopted until EC2 has told us its tags.
//   - Removals need EC2. When the data comes from IMDS, any disagreement
//     that would remove something only sets NeedsEC2Confirmation; the caller
//     then describes the interfaces through EC2 and plans again.
//   - Pods are never dropped silently. With EC2 data, a block that vanished
//     but still carries pods is reported as Orphaned, an ENI that vanished
//     with pods is reported as Lost, and an ENI that became unmanaged while
//     carrying pods is Excluded (keeps its pods, gets no new ones). What to
//     do with those pods is the caller's decision.
//   - Recent changes are left alone. Blocks this node added or released
//     within RecentWindow (default 60 s, as upstream) are neither re-added
//     nor dropped, and ENIs the node is attaching or detaching (Pending) are
//     skipped entirely.
//   - The primary ENI is never forgotten, and an observed list without the
//     primary ENI is treated as incomplete: no removal is planned from it.
//
// Leaked finds interfaces this node created that were left detached
// ("available"), the crash-between-create-and-attach and
// crash-between-detach-and-delete cases.
//
// Every list in a Plan is sorted, so equal inputs give equal plans.
package reconcile
