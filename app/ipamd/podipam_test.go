package ipamd

import (
	"context"
	"testing"
	"time"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// "vpc-cni.addresses" (what the plugin's STATUS reports) is NOT_SERVING
// only while the node holds no pod address at all. A node whose addresses
// are all taken is full, not unready: a failed STATUS would have the node
// reported not ready and its running pods evicted.
func TestAddressesHealth(t *testing.T) {
	n := newNode(t, "m5.large")
	// Someone else provisions: the node has exactly what is on the
	// primary ENI and never grows.
	n.env["DISABLE_NETWORK_RESOURCE_PROVISIONING"] = "true"
	d := n.start(t, nil)
	c := dial(t, d.Socket())
	if got := c.health(t, "vpc-cni.addresses"); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("no address on the node: health %v, want NOT_SERVING", got)
	}
	d.Stop(t.Context())

	n = newNode(t, "m5.large")
	n.env["DISABLE_NETWORK_RESOURCE_PROVISIONING"] = "true"
	n.primaryAddrs(t, 2)
	d = n.start(t, nil)
	c = dial(t, d.Socket())
	waitFor(t, "the two addresses in the pool", func() bool { return d.Service().Stats().Free == 2 })
	for i := 1; i <= 2; i++ {
		if r, err := c.cni.AddNetwork(tctx(t), addReq(i)); err != nil || !r.GetSuccess() {
			t.Fatalf("AddNetwork %d = %v, %v", i, r, err)
		}
	}
	// ipamd waits a while for an address before refusing; the answer is
	// not what this test is about.
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if r, err := c.cni.AddNetwork(ctx, addReq(3)); err == nil && r.GetSuccess() {
		t.Fatalf("a third pod got an address on a node with two: %v", r)
	}
	if got := c.health(t, "vpc-cni.addresses"); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("full node: health %v, want SERVING", got)
	}
}
