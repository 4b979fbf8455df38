package limits_test

import (
	"fmt"

	"github.com/vpc-cni/vpc-cni/core/limits"
)

func ExampleMaxPods() {
	m5, _ := limits.Lookup("m5.large") // 3 ENIs, 10 IPv4 addresses each

	for _, o := range []limits.MaxPodsOptions{
		{},
		{CustomNetworking: true},
		{MaxENI: 2},
		{PrefixDelegation: true},
	} {
		n, err := limits.MaxPods(m5, o)
		fmt.Printf("%+v: %d %v\n", o, n, err)
	}

	_, err := limits.MaxPodsByName("c3.large", limits.MaxPodsOptions{PrefixDelegation: true})
	fmt.Println(err)
	// Output:
	// {PrefixDelegation:false CustomNetworking:false MaxENI:0}: 29 <nil>
	// {PrefixDelegation:false CustomNetworking:true MaxENI:0}: 20 <nil>
	// {PrefixDelegation:false CustomNetworking:false MaxENI:2}: 20 <nil>
	// {PrefixDelegation:true CustomNetworking:false MaxENI:0}: 110 <nil>
	// limits: invalid parameter: instance type "c3.large" does not support prefix delegation (hypervisor "xen", not bare metal)
}
