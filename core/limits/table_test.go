package limits

import (
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/vpc-cni/vpc-cni/core"
)

func TestBuiltinTable(t *testing.T) {
	if got := Count(); got != 1391 {
		t.Errorf("Count() = %d, want 1391", got)
	}
	names := Names()
	if len(names) != Count() {
		t.Fatalf("len(Names()) = %d, Count() = %d", len(names), Count())
	}
	for i, n := range names {
		if i > 0 && names[i-1] >= n {
			t.Errorf("Names() not strictly ascending at %d: %q then %q", i, names[i-1], n)
		}
		it, ok := Lookup(n)
		if !ok || it.Name != n {
			t.Errorf("Lookup(%q) = %q, %v", n, it.Name, ok)
		}
	}

	// Names hands out a fresh slice each time.
	names[0] = "changed"
	if Names()[0] == "changed" {
		t.Error("Names() shares its slice with the caller")
	}
}

func TestBuiltinSpotValues(t *testing.T) {
	tests := []struct {
		name       string
		enis, ipv4 int
		hypervisor string
		metal      bool
		vcpus      int
	}{
		{"t3.small", 3, 4, "nitro", false, 2},
		{"m5.large", 3, 10, "nitro", false, 2},
		{"p3dn.24xlarge", 15, 50, "nitro", false, 96},
		{"t3.nano", 2, 2, "nitro", false, 2},
		{"c3.large", 3, 10, "xen", false, 2},
		{"a1.metal", 8, 30, "unknown", true, 16},
		{"c7i.32xlarge", 15, 50, "nitro", false, 0}, // vCPUs absent from the data set
	}
	for _, tt := range tests {
		it, ok := Lookup(tt.name)
		if !ok {
			t.Errorf("Lookup(%q): missing", tt.name)
			continue
		}
		if it.MaxENIs != tt.enis || it.IPv4PerENI != tt.ipv4 || it.Hypervisor != tt.hypervisor ||
			it.BareMetal != tt.metal || it.VCPUs != tt.vcpus {
			t.Errorf("Lookup(%q) = %+v, want ENIs %d, IPv4 %d, %s, metal %v, vCPUs %d",
				tt.name, it, tt.enis, tt.ipv4, tt.hypervisor, tt.metal, tt.vcpus)
		}
	}

	// A type with two network cards keeps both, with the default card's limit
	// as MaxENIs.
	it, ok := Lookup("hpc6id.32xlarge")
	want := []NetworkCard{{Index: 0, MaxInterfaces: 1}, {Index: 1, MaxInterfaces: 1}}
	if !ok || it.MaxENIs != 1 || !slices.Equal(it.NetworkCards, want) || !it.EFASupported {
		t.Errorf("Lookup(hpc6id.32xlarge) = %+v, %v", it, ok)
	}
}

func TestLookupMissing(t *testing.T) {
	for _, name := range []string{"", "m5", "m5.large ", "zzz.large", "a0.large"} {
		if it, ok := Lookup(name); ok {
			t.Errorf("Lookup(%q) = %+v, want not found", name, it)
		}
	}
}

func TestLookupReturnsCopy(t *testing.T) {
	a := mustLookup(t, "m5.large")
	a.NetworkCards[0].MaxInterfaces = 99
	a.MaxENIs = 99
	b := mustLookup(t, "m5.large")
	if b.MaxENIs != 3 || b.NetworkCards[0].MaxInterfaces != 3 {
		t.Errorf("built-in entry changed through a returned copy: %+v", b)
	}
}

func TestTable(t *testing.T) {
	newType := InstanceType{
		Name: "zz9.large", MaxENIs: 3, IPv4PerENI: 12, Hypervisor: "nitro", VCPUs: 2,
		NetworkCards: []NetworkCard{{Index: 0, MaxInterfaces: 3}},
	}
	override := mustLookup(t, "m5.large")
	override.IPv4PerENI = 5

	tb := NewTable(newType)

	if got, ok := tb.Lookup("zz9.large"); !ok || !reflect.DeepEqual(got, newType) {
		t.Errorf("Lookup(added) = %+v, %v; want %+v", got, ok, newType)
	}
	if got, ok := tb.Lookup("t3.small"); !ok || !reflect.DeepEqual(got, mustLookup(t, "t3.small")) {
		t.Errorf("Lookup(built-in) = %+v, %v", got, ok)
	}
	if _, ok := tb.Lookup("zz9.xlarge"); ok {
		t.Error("Lookup of a type in neither layer succeeded")
	}
	if n, err := tb.MaxPodsByName("zz9.large", MaxPodsOptions{}); err != nil || n != 3*11+2 {
		t.Errorf("MaxPodsByName(added) = %d, %v; want 35", n, err)
	}
	if n, err := tb.MaxPodsByName("zz9.xlarge", MaxPodsOptions{}); !errors.Is(err, core.ErrUnknownInstanceType) {
		t.Errorf("MaxPodsByName(unknown) = %d, %v; want ErrUnknownInstanceType", n, err)
	}

	// An addition shadows the built-in entry; the package-level table is untouched.
	tb.Add(override)
	if n, err := tb.MaxPodsByName("m5.large", MaxPodsOptions{}); err != nil || n != 3*4+2 {
		t.Errorf("MaxPodsByName(overridden m5.large) = %d, %v; want 14", n, err)
	}
	if n, _ := MaxPodsByName("m5.large", MaxPodsOptions{}); n != 29 {
		t.Errorf("package MaxPodsByName(m5.large) = %d after Table.Add, want 29", n)
	}

	// Later additions replace earlier ones.
	newer := newType
	newer.IPv4PerENI = 30
	newer.NetworkCards = nil
	tb.Add(newer)
	if got, _ := tb.Lookup("zz9.large"); got.IPv4PerENI != 30 {
		t.Errorf("second Add not visible: %+v", got)
	}

	// Empty names are ignored.
	tb.Add(InstanceType{MaxENIs: 1, IPv4PerENI: 2})
	if _, ok := tb.Lookup(""); ok {
		t.Error("a type with an empty name was stored")
	}
}

func TestTableCopies(t *testing.T) {
	in := InstanceType{Name: "zz9.large", MaxENIs: 2, IPv4PerENI: 4, Hypervisor: "nitro",
		NetworkCards: []NetworkCard{{Index: 0, MaxInterfaces: 2}}}
	tb := NewTable(in)
	in.NetworkCards[0].MaxInterfaces = 7 // caller keeps mutating its value
	got, _ := tb.Lookup("zz9.large")
	if got.NetworkCards[0].MaxInterfaces != 2 {
		t.Errorf("Table kept the caller's slice: %+v", got)
	}
	got.NetworkCards[0].MaxInterfaces = 9
	again, _ := tb.Lookup("zz9.large")
	if again.NetworkCards[0].MaxInterfaces != 2 {
		t.Errorf("Table handed out its own slice: %+v", again)
	}
}

func TestZeroTable(t *testing.T) {
	var tb Table
	if _, ok := tb.Lookup("m5.large"); !ok {
		t.Error("zero Table does not see the built-in types")
	}
	tb.Add(InstanceType{Name: "zz9.large", MaxENIs: 1, IPv4PerENI: 2})
	if _, ok := tb.Lookup("zz9.large"); !ok {
		t.Error("zero Table lost an addition")
	}
}

// TestTableConcurrent is meant for go test -race: adds and lookups from
// several goroutines, all joined before the test returns.
func TestTableConcurrent(t *testing.T) {
	tb := NewTable()
	names := Names()[:50]
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, n := range names {
				if i%4 == w {
					it, _ := Lookup(n)
					it.IPv4PerENI++
					tb.Add(it)
				}
				tb.Lookup(n)
			}
		}()
	}
	wg.Wait()
	for _, n := range names {
		got, _ := tb.Lookup(n)
		if want := mustLookup(t, n).IPv4PerENI + 1; got.IPv4PerENI != want {
			t.Errorf("%s: IPv4PerENI %d, want %d", n, got.IPv4PerENI, want)
		}
	}
}
