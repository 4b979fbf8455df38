package warmpool

import (
	"fmt"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
)

// BenchmarkCompute measures one decision on a full-size p3dn.24xlarge pool
// (15 ENIs of 49 addresses, half used) that both deletes and releases.
func BenchmarkCompute(b *testing.B) {
	var enis []core.ENIUsage
	for d := range 15 {
		assigned := 0
		if d < 7 {
			assigned = 49
		}
		enis = append(enis, core.ENIUsage{
			ID: core.ENIID(fmt.Sprintf("eni-%02d", d)), DeviceNumber: d, Primary: d == 0, Since: tOld,
			IPs: 49, Total: 49, Assigned: assigned, FreeBlocks: 49 - assigned,
		})
	}
	input := shrink(in(false, Targets{WarmIP: 20, MinimumIP: 50}, enis...))
	input.Limits = Limits{MaxENIs: 15, BlocksPerENI: 49, MaxPods: 737}
	b.ReportAllocs()
	for b.Loop() {
		if Compute(input).Empty() {
			b.Fatal("expected a plan")
		}
	}
}
