package warmpool_test

import (
	"fmt"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/warmpool"
)

// A t3.small (3 ENIs, 3 secondary IPs each) with the default
// WARM_ENI_TARGET=1 and 2 pods on a full primary ENI: the policy asks for a
// second ENI filled with 3 addresses.
func ExampleCompute() {
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	plan := warmpool.Compute(warmpool.Input{
		Now:     now,
		Targets: warmpool.Targets{WarmENI: 1},
		Limits:  warmpool.Limits{MaxENIs: 3, BlocksPerENI: 3, MaxPods: 11},
		Pool: core.PoolUsage{ENIs: []core.ENIUsage{{
			ID: "eni-primary", Primary: true, Since: now.Add(-time.Hour),
			IPs: 3, Total: 3, Assigned: 2, FreeBlocks: 1,
		}}},
		MinENIAge:   time.Minute,
		AllowNewENI: true,
	})
	fmt.Printf("grow %v, new ENIs %+v, shortfall %d\n", plan.Grow, plan.NewENIs, plan.Shortfall)
	for _, r := range plan.Reasons {
		fmt.Println(r)
	}
	// Output:
	// grow [], new ENIs [{IPs:3 Prefixes:0}], shortfall 0
	// pool is low in warm-eni mode: 1 free (0 cooling) of 3 addresses, 0 pods waiting; WARM_ENI_TARGET=1 wants 3 free; 2 more addresses needed
	// create an ENI with 3 IPs
}

// With prefix delegation and WARM_IP_TARGET=5, MINIMUM_IP_TARGET=10 on a
// p3dn.24xlarge holding 45 pods in 3 prefixes, the pool needs 50 addresses:
// one more /28.
func ExampleCompute_prefixDelegation() {
	plan := warmpool.Compute(warmpool.Input{
		Targets:    warmpool.Targets{WarmIP: 5, MinimumIP: 10},
		Limits:     warmpool.Limits{MaxENIs: 15, BlocksPerENI: 49, MaxPods: 250},
		PrefixMode: true,
		Pool: core.PoolUsage{ENIs: []core.ENIUsage{{
			ID: "eni-primary", Primary: true,
			Prefixes: 3, Total: 48, Assigned: 45,
		}}},
		AllowNewENI: true,
	})
	fmt.Printf("grow %+v\n", plan.Grow)
	// Output:
	// grow [{ENI:eni-primary IPs:0 Prefixes:1}]
}
