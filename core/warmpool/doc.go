// Package warmpool decides how big the node's address pool should be.
//
// The upstream daemon mixes this decision with EC2 calls, sleeps and map
// iteration, which makes it hard to predict and impossible to test without
// a cloud. Here the decision is one pure function, Compute: it looks at a
// summary of the pool (core.PoolUsage), the operator's targets
// (WARM_ENI_TARGET, WARM_IP_TARGET, MINIMUM_IP_TARGET, WARM_PREFIX_TARGET),
// the instance limits and the number of pods waiting, and answers with a
// Plan: addresses or prefixes to add to attached ENIs, new ENIs to create,
// free blocks to hand back and ENIs to delete. The node service executes
// the plan; timers (loop tick, decrease interval, cooldown) stay with the
// service and reach the policy only as AllowDecrease, MinENIAge and the
// Cooling counts.
//
// The rules, the places where they deliberately differ from upstream and
// worked examples are described in docs/warm-pool.md.
package warmpool
