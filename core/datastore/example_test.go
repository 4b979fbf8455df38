package datastore_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/datastore"
)

// A program embedding the store: a capacity simulator, a controller, or the
// node agent itself. It supplies the ENIs and addresses it learnt from the
// cloud and the time; the store decides placement and cooldowns.
func Example() {
	start := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	store := datastore.New(datastore.Config{Cooldown: 30 * time.Second, PrefixMode: true})

	eni := datastore.ENIInfo{
		ID:         "eni-0a1b2c3d",
		SubnetCIDR: netip.MustParsePrefix("192.168.0.0/19"),
		PrimaryIP:  netip.MustParseAddr("192.168.0.10"),
		Primary:    true,
	}
	if err := store.AddENI(eni, start); err != nil {
		panic(err)
	}
	prefixes := []netip.Prefix{netip.MustParsePrefix("192.168.4.16/28"), netip.MustParsePrefix("192.168.4.32/28")}
	if _, err := store.AddPrefixes(eni.ID, prefixes); err != nil {
		panic(err)
	}

	// Three pods arrive; they share one /28, starting at its first address.
	for _, name := range []string{"web", "db", "cache"} {
		key := core.PodKey{NetworkName: "aws-cni", ContainerID: "ctr-" + name, IfName: "eth0"}
		a, err := store.Assign(key, core.PodRef{Namespace: "shop", Name: name}, start)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s -> %s on %s (table %d)\n", a.Pod, a.Addr, a.ENI, a.RouteTable)
	}

	// The db pod goes away; its address cools down for 30 seconds.
	released, err := store.Release(core.PodKey{NetworkName: "aws-cni", ContainerID: "ctr-db", IfName: "eth0"}, start.Add(time.Second))
	if err != nil {
		panic(err)
	}
	fmt.Println("released", released.Addr)
	st := store.Stats(start.Add(2 * time.Second))
	fmt.Printf("total %d assigned %d cooling %d free %d\n", st.Total, st.Assigned, st.Cooling, st.Free)

	// The second /28 holds nothing: the warm-pool policy may hand it back.
	fmt.Println("returned to EC2:", store.TakeFreeBlocks(eni.ID, core.BlockPrefix, 1, start.Add(2*time.Second)))

	// The snapshot is what the caller persists; it carries the cooldown.
	snap := store.Snapshot(start.Add(2 * time.Second))
	fmt.Println("allocations", len(snap.Allocations), "cooldowns", len(snap.Cooldowns))

	// Output:
	// shop/web -> 192.168.4.16 on eni-0a1b2c3d (table 254)
	// shop/db -> 192.168.4.17 on eni-0a1b2c3d (table 254)
	// shop/cache -> 192.168.4.18 on eni-0a1b2c3d (table 254)
	// released 192.168.4.17
	// total 32 assigned 2 cooling 1 free 29
	// returned to EC2: [192.168.4.32/28]
	// allocations 2 cooldowns 1
}
