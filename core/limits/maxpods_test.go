package limits

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
)

// mustLookup fetches a built-in type or stops the test.
func mustLookup(t *testing.T, name string) InstanceType {
	t.Helper()
	it, ok := Lookup(name)
	if !ok {
		t.Fatalf("Lookup(%q): not in the built-in table", name)
	}
	return it
}

// synth builds a made-up type for boundary cases the real data lacks.
func synth(name string, enis, ipv4, vcpus int, hypervisor string, metal bool) InstanceType {
	return InstanceType{
		Name: name, MaxENIs: enis, IPv4PerENI: ipv4, VCPUs: vcpus,
		Hypervisor: hypervisor, BareMetal: metal,
		NetworkCards: []NetworkCard{{Index: 0, MaxInterfaces: enis}},
	}
}

func TestMaxPods(t *testing.T) {
	var (
		pd     = MaxPodsOptions{PrefixDelegation: true}
		cn     = MaxPodsOptions{CustomNetworking: true}
		pdcn   = MaxPodsOptions{PrefixDelegation: true, CustomNetworking: true}
		maxENI = func(n int) MaxPodsOptions { return MaxPodsOptions{MaxENI: n} }
	)
	tests := []struct {
		name string
		typ  InstanceType
		opts MaxPodsOptions
		want int
	}{
		// Secondary-IP mode: the published values of eni-max-pods.txt.
		{"t3.small", mustLookup(t, "t3.small"), MaxPodsOptions{}, 11},
		{"m5.large", mustLookup(t, "m5.large"), MaxPodsOptions{}, 29},
		{"p3dn.24xlarge", mustLookup(t, "p3dn.24xlarge"), MaxPodsOptions{}, 737},
		{"m5.24xlarge", mustLookup(t, "m5.24xlarge"), MaxPodsOptions{}, 737},
		{"t3.nano", mustLookup(t, "t3.nano"), MaxPodsOptions{}, 4},
		{"one-ENI type", mustLookup(t, "hpc6id.32xlarge"), MaxPodsOptions{}, 51},
		{"xen type", mustLookup(t, "c3.large"), MaxPodsOptions{}, 29},

		// Custom networking: the primary ENI carries no pods.
		{"t3.small custom", mustLookup(t, "t3.small"), cn, 8},
		{"m5.large custom", mustLookup(t, "m5.large"), cn, 20},
		{"p3dn.24xlarge custom", mustLookup(t, "p3dn.24xlarge"), cn, 688},
		{"t3.nano custom", mustLookup(t, "t3.nano"), cn, 3},

		// MAX_ENI lowers the ENI count only when it is below the limit.
		{"m5.large MAX_ENI=2", mustLookup(t, "m5.large"), maxENI(2), 20},
		{"m5.large MAX_ENI=1", mustLookup(t, "m5.large"), maxENI(1), 11},
		{"m5.large MAX_ENI equal to limit", mustLookup(t, "m5.large"), maxENI(3), 29},
		{"m5.large MAX_ENI above limit ignored", mustLookup(t, "m5.large"), maxENI(100), 29},
		{"m5.large MAX_ENI=0 unset", mustLookup(t, "m5.large"), maxENI(0), 29},
		{"m5.large MAX_ENI negative unset", mustLookup(t, "m5.large"), maxENI(-4), 29},
		{"m5.large MAX_ENI=2 custom", mustLookup(t, "m5.large"), MaxPodsOptions{MaxENI: 2, CustomNetworking: true}, 11},
		{"p3dn.24xlarge MAX_ENI above limit custom", mustLookup(t, "p3dn.24xlarge"), MaxPodsOptions{MaxENI: 16, CustomNetworking: true}, 688},

		// Prefix delegation: ×16, then capped by vCPU count.
		{"t3.nano PD below cap", mustLookup(t, "t3.nano"), pd, 34},
		{"t3.nano PD custom", mustLookup(t, "t3.nano"), pdcn, 18},
		{"m5.large PD capped at 110", mustLookup(t, "m5.large"), pd, 110},
		{"m5.large PD custom capped at 110", mustLookup(t, "m5.large"), pdcn, 110},
		{"p3dn.24xlarge PD capped at 250", mustLookup(t, "p3dn.24xlarge"), pd, 250},
		{"c6i.8xlarge PD 32 vCPUs", mustLookup(t, "c6i.8xlarge"), pd, 250},
		{"bare metal with unknown hypervisor", mustLookup(t, "a1.metal"), pd, 110},
		{"PD MAX_ENI=1 under cap", mustLookup(t, "t3.nano"), MaxPodsOptions{PrefixDelegation: true, MaxENI: 1}, 18},
		{"29 vCPUs gets 110", synth("x.29", 8, 30, 29, "nitro", false), pd, 110},
		{"30 vCPUs gets 250", synth("x.30", 8, 30, 30, "nitro", false), pd, 250},
		{"31 vCPUs gets 250", synth("x.31", 8, 30, 31, "nitro", false), pd, 250},
		{"large type below its cap", synth("x.big", 2, 4, 64, "nitro", false), pd, 98},
		{"just above the cap", synth("x.above", 1, 8, 4, "nitro", false), pd, 110}, // 114 uncapped
		{"unknown vCPUs treated as small", synth("x.novcpu", 8, 30, 0, "nitro", false), pd, 110},
		{"real type without vCPUs", mustLookup(t, "c7i.32xlarge"), pd, 110},

		// IPv4PerENI of 1: every address is an ENI primary, only host pods.
		{"one IPv4 per ENI", synth("x.ip1", 4, 1, 8, "nitro", false), MaxPodsOptions{}, 2},
		{"one IPv4 per ENI PD", synth("x.ip1", 4, 1, 8, "nitro", false), pd, 2},
		{"one IPv4 per ENI custom", synth("x.ip1", 4, 1, 8, "nitro", false), cn, 2},

		// Absurd sizes: the PD cap still applies when the product overflows.
		{"huge PD", synth("x.huge", math.MaxInt, math.MaxInt, 64, "nitro", false), pd, 250},
		{"huge PD small", synth("x.huge", math.MaxInt/2, 3, 2, "nitro", false), pd, 110},
		{"largest non-overflowing SIP", synth("x.max", 1, math.MaxInt-1, 2, "nitro", false), MaxPodsOptions{}, math.MaxInt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MaxPods(tt.typ, tt.opts)
			if err != nil {
				t.Fatalf("MaxPods(%s, %+v): unexpected error %v", tt.typ.Name, tt.opts, err)
			}
			if got != tt.want {
				t.Errorf("MaxPods(%s, %+v) = %d, want %d", tt.typ.Name, tt.opts, got, tt.want)
			}
		})
	}
}

func TestMaxPodsErrors(t *testing.T) {
	tests := []struct {
		name string
		typ  InstanceType
		opts MaxPodsOptions
		// what must appear in the message besides the type name.
		mention string
	}{
		{"zero ENIs", synth("x.e0", 0, 10, 2, "nitro", false), MaxPodsOptions{}, "no network interfaces"},
		{"negative ENIs", synth("x.eneg", -3, 10, 2, "nitro", false), MaxPodsOptions{}, "no network interfaces"},
		{"zero IPv4", synth("x.ip0", 3, 0, 2, "nitro", false), MaxPodsOptions{}, "no IPv4"},
		{"negative IPv4", synth("x.ipneg", 3, -1, 2, "nitro", false), MaxPodsOptions{PrefixDelegation: true}, "no IPv4"},
		{"negative vCPUs", synth("x.cneg", 3, 10, -1, "nitro", false), MaxPodsOptions{}, "negative vCPU"},
		{"zero type", InstanceType{}, MaxPodsOptions{}, "no network interfaces"},
		{"PD on xen", mustLookup(t, "c3.large"), MaxPodsOptions{PrefixDelegation: true}, "prefix delegation"},
		{"PD on unknown hypervisor, not metal", mustLookup(t, "cr1.8xlarge"), MaxPodsOptions{PrefixDelegation: true}, "prefix delegation"},
		{"custom networking on one-ENI type", mustLookup(t, "hpc6id.32xlarge"), MaxPodsOptions{CustomNetworking: true}, "custom networking"},
		{"custom networking on one-ENI type PD", mustLookup(t, "hpc6id.32xlarge"), MaxPodsOptions{CustomNetworking: true, PrefixDelegation: true}, "custom networking"},
		{"MAX_ENI=1 custom networking", mustLookup(t, "m5.large"), MaxPodsOptions{CustomNetworking: true, MaxENI: 1}, "custom networking"},
		{"SIP overflow", synth("x.huge", math.MaxInt, math.MaxInt, 64, "nitro", false), MaxPodsOptions{}, "overflows"},
		{"SIP overflow by the +2", synth("x.edge", 1, math.MaxInt, 2, "nitro", false), MaxPodsOptions{}, "overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := MaxPods(tt.typ, tt.opts)
			if err == nil {
				t.Fatalf("MaxPods(%s, %+v) = %d, want an error", tt.typ.Name, tt.opts, got)
			}
			if got != 0 {
				t.Errorf("MaxPods returned %d alongside an error, want 0", got)
			}
			if !errors.Is(err, core.ErrInvalidParameter) {
				t.Errorf("error %q does not wrap core.ErrInvalidParameter", err)
			}
			if !strings.Contains(err.Error(), `"`+tt.typ.Name+`"`) {
				t.Errorf("error %q does not name the type %q", err, tt.typ.Name)
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

// TestMaxPodsNeverNegative sweeps small limits and every option combination:
// the result is either an error or a value of at least 2 that respects the
// prefix-delegation cap.
func TestMaxPodsNeverNegative(t *testing.T) {
	for enis := -1; enis <= 4; enis++ {
		for ipv4 := -1; ipv4 <= 4; ipv4++ {
			for _, vcpus := range []int{0, 29, 30} {
				for maxENI := -1; maxENI <= 5; maxENI++ {
					for _, o := range []MaxPodsOptions{
						{MaxENI: maxENI},
						{MaxENI: maxENI, CustomNetworking: true},
						{MaxENI: maxENI, PrefixDelegation: true},
						{MaxENI: maxENI, PrefixDelegation: true, CustomNetworking: true},
					} {
						typ := synth("x.sweep", enis, ipv4, vcpus, "nitro", false)
						got, err := MaxPods(typ, o)
						if err != nil {
							if !errors.Is(err, core.ErrInvalidParameter) {
								t.Errorf("MaxPods(%+v, %+v): error %v does not wrap ErrInvalidParameter", typ, o, err)
							}
							continue
						}
						if got < 2 {
							t.Errorf("MaxPods(%+v, %+v) = %d, want >= 2", typ, o, got)
						}
						if o.PrefixDelegation && got > 250 {
							t.Errorf("MaxPods(%+v, %+v) = %d, above the PD cap", typ, o, got)
						}
					}
				}
			}
		}
	}
}

func TestMaxPodsByName(t *testing.T) {
	got, err := MaxPodsByName("m5.large", MaxPodsOptions{})
	if err != nil || got != 29 {
		t.Errorf("MaxPodsByName(m5.large) = %d, %v; want 29, nil", got, err)
	}
	got, err = MaxPodsByName("c3.large", MaxPodsOptions{PrefixDelegation: true})
	if !errors.Is(err, core.ErrInvalidParameter) {
		t.Errorf("MaxPodsByName(c3.large, PD) = %d, %v; want ErrInvalidParameter", got, err)
	}

	for _, name := range []string{"zz9.mega", "", "M5.LARGE", " m5.large"} {
		got, err := MaxPodsByName(name, MaxPodsOptions{})
		if !errors.Is(err, core.ErrUnknownInstanceType) {
			t.Errorf("MaxPodsByName(%q) = %d, %v; want ErrUnknownInstanceType", name, got, err)
			continue
		}
		if !strings.Contains(err.Error(), `"`+name+`"`) {
			t.Errorf("error %q does not name %q", err, name)
		}
	}
}
