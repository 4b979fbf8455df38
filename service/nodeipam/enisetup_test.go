package nodeipam_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/vpc-cni/vpc-cni/adapters/memory"
	"github.com/vpc-cni/vpc-cni/core"
	"github.com/vpc-cni/vpc-cni/core/warmpool"
	"github.com/vpc-cni/vpc-cni/ports"
	"github.com/vpc-cni/vpc-cni/service/nodeipam"
)

// slowLinks plays a datapath whose links show up late: setting up the
// first ENI it is asked about fails until linkUp is called.
type slowLinks struct {
	mu    sync.Mutex
	slow  core.ENIID
	up    bool
	calls map[core.ENIID]int
}

func (l *slowLinks) onENIReady(e core.ENI) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls == nil {
		l.calls = map[core.ENIID]int{}
	}
	l.calls[e.ID]++
	if l.slow == "" {
		l.slow = e.ID
	}
	if e.ID == l.slow && !l.up {
		return fmt.Errorf("find link with MAC %s: %w", e.MAC, core.ErrNotFound)
	}
	return nil
}

func (l *slowLinks) linkUp() {
	l.mu.Lock()
	l.up = true
	l.mu.Unlock()
}

func (l *slowLinks) callsFor(id core.ENIID) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls[id]
}

func (n *node) serviceWithLinks(cfg nodeipam.Config, l *slowLinks) *nodeipam.Service {
	n.t.Helper()
	svc, err := nodeipam.New(cfg, nodeipam.Deps{Cloud: n.cloud, Metadata: n.cloud.Metadata(n.inst.ID), Clock: n.clock,
		Checkpoint: n.ckpt, OnENIReady: l.onENIReady})
	must(n.t, err)
	_, err = svc.Init(context.Background())
	must(n.t, err)
	return svc
}

// attachedENIs lists the instance's ENIs in EC2, device order.
func (n *node) attachedENIs() []core.ENIID {
	var out []core.ENIID
	for _, e := range n.cloud.ENIsOf(n.inst.ID) {
		out = append(out, e.ID)
	}
	return out
}

// A new ENI whose link is slow to appear is set up again on the next
// passes; meanwhile it counts as capacity, so no other ENI is attached for
// the same shortfall, and no pod gets one of its addresses.
func TestNewENIWithSlowLinkIsRetriedNotReplaced(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	cfg := fastConfig()
	cfg.Targets = warmpool.Targets{WarmIP: 12} // more than the primary ENI's 9
	links := &slowLinks{}
	svc := n.serviceWithLinks(cfg, links)
	ctx := context.Background()

	if _, err := svc.Step(ctx); err == nil {
		t.Fatal("the pass hid the failed setup of the new ENI")
	}
	if got := len(n.attachedENIs()); got != 2 {
		t.Fatalf("%d ENIs attached after the first pass, want 2", got)
	}
	slow := links.slow
	for i := 0; i < 4; i++ {
		n.clock.Advance(5 * time.Second)
		_, _ = svc.Step(ctx)
	}
	if got := len(n.attachedENIs()); got != 2 {
		t.Fatalf("%d ENIs attached while the new one awaits setup, want 2 (%v)", got, n.cloudShape())
	}
	if got := svc.DatapathPending(); !slices.Equal(got, []core.ENIID{slow}) {
		t.Fatalf("ENIs awaiting setup %v, want [%s]", got, slow)
	}
	if got := links.callsFor(slow); got != 5 {
		t.Fatalf("setup of %s tried %d times in 5 passes, want 5", slow, got)
	}
	// No pod gets an address of the ENI awaiting setup.
	for i := 0; ; i++ {
		a, err := svc.TryAssign(ctx, req(i))
		if errors.Is(err, core.ErrNoAvailableAddress) {
			break
		}
		must(t, err)
		if a.ENI == slow {
			t.Fatalf("pod %d got %s on %s, whose datapath is not set up", i, a.Addr, slow)
		}
	}
	links.linkUp()
	n.clock.Advance(5 * time.Second)
	_, _ = svc.Step(ctx)
	if got := svc.DatapathPending(); len(got) != 0 {
		t.Fatalf("ENIs awaiting setup %v after the link appeared", got)
	}
	for i := 100; ; i++ {
		a, err := svc.TryAssign(ctx, req(i))
		if err != nil {
			t.Fatalf("no pod got an address of %s once it was set up: %v", slow, err)
		}
		if a.ENI == slow {
			break
		}
	}
}

// An ENI whose link never appears stops counting as capacity after the
// setup window: the pool attaches another, the passes stop retrying it
// (the datapath repair still does), and it is neither emptied nor deleted.
func TestENIWhoseLinkNeverAppearsIsWorkedAround(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	cfg := fastConfig()
	cfg.Targets = warmpool.Targets{WarmIP: 12}
	links := &slowLinks{}
	svc := n.serviceWithLinks(cfg, links)
	ctx := context.Background()
	_, _ = svc.Step(ctx)
	slow := links.slow
	var before []string
	for _, e := range n.cloud.ENIsOf(n.inst.ID) {
		if e.ID == slow {
			before = append(before, e.SecondaryIPs[0].String())
		}
	}
	for i := 0; i < 30; i++ { // 2.5 minutes
		n.clock.Advance(5 * time.Second)
		_, _ = svc.Step(ctx)
	}
	if got := len(n.attachedENIs()); got != 3 {
		t.Fatalf("%d ENIs attached, want 3: the pool works around the one never set up (%v)", got, n.cloudShape())
	}
	tries := links.callsFor(slow)
	if window := int(cfg.ENISetupWindow / (5 * time.Second)); tries > window+1 {
		t.Fatalf("setup of %s tried %d times, want at most %d (the setup window's passes)", slow, tries, window+1)
	}
	if !slices.Contains(n.attachedENIs(), slow) {
		t.Fatalf("%s was deleted although ipamd cannot see its link", slow)
	}
	for _, e := range n.cloud.ENIsOf(n.inst.ID) {
		if e.ID == slow && (len(e.SecondaryIPs) == 0 || e.SecondaryIPs[0].String() != before[0]) {
			t.Fatalf("addresses of %s changed to %v", slow, e.SecondaryIPs)
		}
	}
	// The datapath's repair pass sets it up in the end.
	svc.DatapathReady(slow)
	if got := svc.DatapathPending(); len(got) != 0 {
		t.Fatalf("ENIs awaiting setup %v after DatapathReady", got)
	}
}

// An ENI found attached at start whose datapath the host setup could not
// program keeps its pods, gives new pods none of its addresses, and is
// offered again once a later pass sets it up. A reconcile does not undo
// that.
func TestDatapathFailedKeepsAddressesFromPods(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	eni, err := n.cloud.AddENI(memory.ENISpec{Instance: n.inst.ID, Device: 1,
		CreateENIRequest: ports.CreateENIRequest{SubnetID: "subnet-1", SecondaryIPs: 4}})
	must(t, err)
	svc := n.service(fastConfig())
	ctx := context.Background()
	held, err := svc.TryAssign(ctx, req(0))
	must(t, err)
	if held.ENI != eni.ID {
		t.Fatalf("first pod on %s, want %s (the only ENI with addresses)", held.ENI, eni.ID)
	}

	svc.DatapathFailed(eni.ID)
	svc.DatapathFailed("eni-unknown") // not in the pool: ignored
	if got := svc.DatapathPending(); !slices.Equal(got, []core.ENIID{eni.ID}) {
		t.Fatalf("ENIs awaiting setup %v, want [%s]", got, eni.ID)
	}
	if _, err := svc.TryAssign(ctx, req(1)); !errors.Is(err, core.ErrNoAvailableAddress) {
		t.Fatalf("assign with only an ENI whose datapath is not set up: %v, want ErrNoAvailableAddress", err)
	}
	if a, ok := svc.Lookup(key(0)); !ok || a.Addr != held.Addr {
		t.Fatalf("pod 0 lost its address %s", held.Addr)
	}
	n.clock.Advance(2 * time.Minute)
	_ = svc.Reconcile(ctx)
	if _, err := svc.TryAssign(ctx, req(1)); !errors.Is(err, core.ErrNoAvailableAddress) {
		t.Fatalf("after a reconcile: %v, want ErrNoAvailableAddress", err)
	}

	svc.DatapathReady(eni.ID)
	a, err := svc.TryAssign(ctx, req(1))
	must(t, err)
	if a.ENI != eni.ID {
		t.Fatalf("pod got %s on %s, want one of %s", a.Addr, a.ENI, eni.ID)
	}
}

// An ENI of ours found attached by a reconcile (the process died between
// attach and adoption, or an operator attached it) whose datapath setup
// fails joins the pool unwired, as a new ENI of the pool's own does: its
// addresses count but go to no pod, and the next passes retry its setup.
func TestENIFoundByReconcileWithFailedSetupJoinsUnwired(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	ctx := context.Background()
	var (
		mu     sync.Mutex
		broken core.ENIID // its setup fails while set
		setups = map[core.ENIID]int{}
	)
	svc, err := nodeipam.New(fastConfig(), nodeipam.Deps{Cloud: n.cloud, Metadata: n.cloud.Metadata(n.inst.ID), Clock: n.clock,
		Checkpoint: n.ckpt, OnENIReady: func(e core.ENI) error {
			mu.Lock()
			defer mu.Unlock()
			setups[e.ID]++
			if e.ID == broken {
				return fmt.Errorf("find link with MAC %s: %w", e.MAC, core.ErrNotFound)
			}
			return nil
		}})
	must(t, err)
	_, err = svc.Init(ctx)
	must(t, err)
	eni, err := n.cloud.CreateENI(ctx, ports.CreateENIRequest{SubnetID: "subnet-1", SecondaryIPs: 2,
		Description: core.ENIDescriptionPrefix + string(n.inst.ID), Tags: map[string]string{core.TagInstanceID: string(n.inst.ID)}})
	must(t, err)
	mu.Lock()
	broken = eni.ID
	mu.Unlock()
	_, err = n.cloud.AttachENI(ctx, eni.ID, n.inst.ID, 1, 0)
	must(t, err)
	n.clock.Advance(2 * time.Minute) // past the metadata lag
	if err := svc.Reconcile(ctx); err == nil {
		t.Fatal("reconcile hid the datapath failure")
	}

	inPool := false
	var pool []core.ENIID
	for _, v := range svc.ENIs() {
		inPool = inPool || (v.ID == eni.ID && len(v.IPs) == 2)
		pool = append(pool, v.ID)
	}
	if !inPool {
		t.Fatalf("ENI %s found attached is not in the pool with its 2 addresses after its setup failed (pool %v)", eni.ID, pool)
	}
	keptFromPods(t, svc, eni.ID)

	// A pass within the setup window retries it; once that succeeds its
	// addresses go to pods.
	mu.Lock()
	broken = ""
	mu.Unlock()
	n.clock.Advance(5 * time.Second)
	_, _ = svc.Step(ctx)
	mu.Lock()
	tries := setups[eni.ID]
	mu.Unlock()
	if tries != 2 {
		t.Fatalf("setup of %s tried %d times, want 2 (the reconcile, then the pass)", eni.ID, tries)
	}
	if got := svc.DatapathPending(); len(got) != 0 {
		t.Fatalf("ENIs awaiting setup %v after a pass set it up", got)
	}
	for i := 100; ; i++ {
		a, err := svc.TryAssign(ctx, req(i))
		if err != nil {
			t.Fatalf("no pod got an address of %s once it was set up: %v", eni.ID, err)
		}
		if a.ENI == eni.ID {
			break
		}
	}
}

// The datapath's repair pass may report a failure for an unwired ENI while
// a pass is retrying its setup without the lock. The failure is the newer
// outcome: the pass's success must not offer the ENI's addresses to pods.
func TestFailureReportedDuringRetryKeepsENIUnwired(t *testing.T) {
	n := newNode(t, "m5.large", "10.0.0.0/24")
	eni, err := n.cloud.AddENI(memory.ENISpec{Instance: n.inst.ID, Device: 1,
		CreateENIRequest: ports.CreateENIRequest{SubnetID: "subnet-1", SecondaryIPs: 4}})
	must(t, err)
	ctx := context.Background()
	var (
		svc     *nodeipam.Service
		mu      sync.Mutex
		racing  = true // the repair pass reports a failure during the setup
		retried int
	)
	svc, err = nodeipam.New(fastConfig(), nodeipam.Deps{Cloud: n.cloud, Metadata: n.cloud.Metadata(n.inst.ID), Clock: n.clock,
		Checkpoint: n.ckpt, OnENIReady: func(e core.ENI) error {
			if e.ID != eni.ID {
				return nil
			}
			mu.Lock()
			retried++
			race := racing
			mu.Unlock()
			if race {
				svc.DatapathFailed(e.ID)
			}
			return nil
		}})
	must(t, err)
	_, err = svc.Init(ctx)
	must(t, err)
	svc.DatapathFailed(eni.ID) // the start-up setup failed

	_, _ = svc.Step(ctx)
	mu.Lock()
	tries := retried
	mu.Unlock()
	if tries != 1 {
		t.Fatalf("setup of %s retried %d times in one pass, want 1", eni.ID, tries)
	}
	keptFromPods(t, svc, eni.ID) // a failure was reported after the retry began

	// A retry that no failure overtakes offers the ENI again.
	mu.Lock()
	racing = false
	mu.Unlock()
	n.clock.Advance(5 * time.Second)
	_, _ = svc.Step(ctx)
	if got := svc.DatapathPending(); len(got) != 0 {
		t.Fatalf("ENIs awaiting setup %v after an undisputed retry", got)
	}
}

// keptFromPods checks that id is the one ENI awaiting its datapath setup and
// that pods given every free address get none of its.
func keptFromPods(t *testing.T, svc *nodeipam.Service, id core.ENIID) {
	t.Helper()
	if got := svc.DatapathPending(); !slices.Equal(got, []core.ENIID{id}) {
		t.Fatalf("ENIs awaiting setup %v, want [%s]", got, id)
	}
	for i := 0; ; i++ {
		a, err := svc.TryAssign(context.Background(), req(i))
		if errors.Is(err, core.ErrNoAvailableAddress) {
			return
		}
		must(t, err)
		if a.ENI == id {
			t.Fatalf("pod %d got %s on %s, whose datapath is not set up", i, a.Addr, id)
		}
	}
}
